#!/usr/bin/python3
"""Check an iCalendar feed with an independent parser (python3-icalendar) and RFC 5545's
line rules, then print one line per event: START END KIND SUMMARY (END exclusive)."""
import sys

from icalendar import Calendar


def main(path):
    raw = open(path, "rb").read()
    if not raw.endswith(b"\r\n"):
        sys.exit("feed does not end in CRLF")
    lines = raw.split(b"\r\n")[:-1]
    for i, line in enumerate(lines, 1):
        if b"\n" in line or b"\r" in line:
            sys.exit(f"line {i}: a bare LF or CR")
        if len(line) > 75:
            sys.exit(f"line {i}: {len(line)} octets, more than 75")
        line.decode("utf-8")  # folding never splits a UTF-8 sequence
    cal = Calendar.from_ical(raw.decode("utf-8"))
    for key in ("VERSION", "PRODID"):
        if key not in cal:
            sys.exit(f"VCALENDAR lacks {key}")
    if str(cal["VERSION"]) != "2.0":
        sys.exit("VERSION is not 2.0")
    uids = set()
    for ev in cal.walk("VEVENT"):
        for key in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"):
            if key not in ev:
                sys.exit(f"VEVENT lacks {key}: {ev}")
        uid = str(ev["UID"])
        if uid in uids:
            sys.exit(f"UID {uid} twice")
        uids.add(uid)
        start, end = ev.decoded("DTSTART"), ev.decoded("DTEND")
        if hasattr(start, "hour") or hasattr(end, "hour"):
            sys.exit(f"{uid}: not an all-day event")
        if ev["DTSTART"].params.get("VALUE") != "DATE":
            sys.exit(f"{uid}: DTSTART without VALUE=DATE")
        if not hasattr(ev.decoded("DTSTAMP"), "hour"):
            sys.exit(f"{uid}: DTSTAMP is not a date-time")
        cats = ev.get("CATEGORIES")
        kind = cats.to_ical().decode() if cats is not None else "-"
        print(start.isoformat(), end.isoformat(), kind, str(ev["SUMMARY"]))


if __name__ == "__main__":
    main(sys.argv[1])
