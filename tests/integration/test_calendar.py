"""The calendar feed (issue 10): /.well-known/lessongate/calendar.ics?region=, answered by the
proxy itself on a free route, read back by an independent iCalendar parser (python3-icalendar),
cacheable with a weak ETag (If-None-Match -> 304) and Cache-Control."""

import os

from icalendar import Calendar

from harness import ROOT, HttpConn, check, curl

FEED = "/.well-known/lessongate/calendar.ics"
CAL = os.path.join(ROOT, "conf", "calendar")
# /live/ is a lesson route; the feed must still be free (no token) and never reach the origin.
ROUTES = [{"prefix": "/live/", "class": "subject"}, {"prefix": "/.well-known/", "class": "subject"}]


def lg(env):
    extra = {"routes": ROUTES,
             "identity": {"header": {"name": "X-Student-Id", "trusted_peers": ["127.0.0.1/32"]}},
             "calendar": {"files": [os.path.join(CAL, "cn-2026.conf"),
                                    os.path.join(CAL, "example-dehong-2023.conf")],
                          "default_region": "533100"}}
    return env.shared_daemon("calendar", extra=extra)


def events(body):
    """{(start, end exclusive, summary)} of a feed, parsed by python3-icalendar."""
    cal = Calendar.from_ical(body.decode("utf-8"))
    return {(ev.decoded("DTSTART").isoformat(), ev.decoded("DTEND").isoformat(),
             str(ev["SUMMARY"])) for ev in cal.walk("VEVENT")}


def test_calendar_feed_by_region_parsed_back(env):
    d = lg(env)
    o = env.origin()
    m = o.mark()
    with HttpConn(d.port) as c:
        r = c.request("GET", FEED + "?region=533103")
        check(r.status == 200, "feed: %r" % r)
        check(r.header("content-type") == "text/calendar; charset=utf-8",
              "content type %r" % r.header("content-type"))
        check(b"\r\n" in r.body and b"\n" not in r.body.replace(b"\r\n", b""),
              "lines must end in CRLF")
        ev = events(r.body)
        for want in [("2023-04-12", "2023-04-16", "泼水节"), ("2023-04-16", "2023-04-17", "泼水节调休"),
                     ("2026-10-01", "2026-10-08", "国庆节"), ("2026-09-20", "2026-09-21", "国庆节调休")]:
            check(want in ev, "533103 feed lacks %r: %r" % (want, sorted(ev)))
        r = c.request("GET", FEED + "?region=110000")
        check(r.status == 200, "feed 110000: %r" % r)
        ev = events(r.body)
        check(("2026-10-01", "2026-10-08", "国庆节") in ev, "110000: %r" % sorted(ev))
        check(not any("泼水节" in s for _, _, s in ev), "Dehong's days in 110000's feed: %r" % sorted(ev))
        # no region: the default region (533100)
        r = c.request("GET", FEED)
        check(("2023-04-12", "2023-04-16", "泼水节") in events(r.body), "default region feed")
        check(not c.closed_within(0.2), "the feed closed a keep-alive connection")
    o.assert_nothing_since(m, what="the calendar feed")


def test_calendar_feed_etag_304_and_cache_control(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        r = c.request("GET", FEED + "?region=533100")
        tag = r.header("etag")
        check(tag is not None and tag.startswith('W/"'), "ETag: %r" % tag)
        check("max-age=" in (r.header("cache-control") or ""), "Cache-Control: %r" % r.header("cache-control"))
        r2 = c.request("GET", FEED + "?region=533100", headers=[("If-None-Match", tag)])
        check(r2.status == 304 and r2.body == b"", "If-None-Match with the tag: %r" % r2)
        check(r2.header("etag") == tag, "304 ETag %r" % r2.header("etag"))
        r3 = c.request("GET", FEED + "?region=533100", headers=[("If-None-Match", '"x", ' + tag[2:])])
        check(r3.status == 304, "a list with the strong form of the tag: %r" % r3)
        r4 = c.request("GET", FEED + "?region=110000", headers=[("If-None-Match", tag)])
        check(r4.status == 200 and r4.header("etag") != tag, "another region, another tag: %r" % r4)
        r5 = c.request("HEAD", FEED + "?region=533100")
        check(r5.status == 200 and r5.header("etag") == tag and r5.body == b"", "HEAD: %r" % r5)
    # curl, as a subscriber would
    rc, out, err = curl("-i", "-H", "If-None-Match: " + tag,
                        "http://127.0.0.1:%d%s?region=533100" % (d.port, FEED))
    check(rc == 0 and out.startswith(b"HTTP/1.1 304"), "curl 304: %r %s" % (out[:80], err))


def test_calendar_feed_bad_requests(env):
    d = lg(env)
    o = env.origin()
    m = o.mark()
    with HttpConn(d.port) as c:
        for q in ("?region=53", "?region=5331000", "?region=abcdef", "?region=000000"):
            r = c.request("GET", FEED + q)
            check(r.status == 400 and b"bad_region" in r.body, "%s: %r" % (q, r))
        r = c.request("POST", FEED, body=b"x")
        check(r.status == 405 and r.header("allow") == "GET, HEAD", "POST: %r" % r)
    o.assert_nothing_since(m, what="refused feed requests")


# ---------------------------------------------------------------- enforcement of a regional notice

REGIONAL_2026 = """year = 2026;
source = "test: a prefecture's notice";
holidays = ( { region = "533100"; name = "泼水节"; from = "2026-04-13"; to = "2026-04-15"; } );
workdays = ( { region = "533100"; name = "泼水节调休"; date = "2026-04-19"; } );
"""


def regional_lesson(env, when, default_region):
    """The response to a subject request (/small is a lesson route here; the origin answers
    200) by a student of default_region at Shanghai time `when`."""
    from test_enforce import faketime_lib  # the libfaketime set-up shared with enforcement
    path = os.path.join(env.dir, "regional-2026.conf")
    with open(path, "w") as f:
        f.write(REGIONAL_2026)
    extra = {"routes": [{"prefix": "/small", "class": "subject"}],
             "identity": {"header": {"name": "X-Student-Id", "trusted_peers": ["127.0.0.1/32"]}},
             "calendar": {"files": [os.path.join(CAL, "cn-2026.conf"), path],
                          "default_region": default_region}}
    envx = {"LD_PRELOAD": faketime_lib(), "FAKETIME": "@" + when, "TZ": "Asia/Shanghai"}
    with env.daemon(extra=extra, env_extra=envx) as d:
        with HttpConn(d.port) as c:
            r = c.request("GET", "/small", headers=[("X-Student-Id", "stu-r")])
    return r


def test_calendar_regional_makeup_sunday_allows_lessons(env):
    r = regional_lesson(env, "2026-04-19 10:00:00", "533102")
    check(r.status == 200, "a regional make-up Sunday in 533102 must allow subject lessons: %r" % r)
    r = regional_lesson(env, "2026-04-19 10:00:00", "110000")
    check(r.status == 451, "the same Sunday in 110000 is a rest day: %r" % r)


def test_calendar_regional_holiday_blocks_only_its_region(env):
    r = regional_lesson(env, "2026-04-14 10:00:00", "533102")
    check(r.status == 451, "a regional holiday in 533102 must block subject lessons: %r" % r)
    check(b"holiday" in r.body, "the refusal names the holiday kind: %r" % r.body[:300])
    r = regional_lesson(env, "2026-04-14 10:00:00", "110000")
    check(r.status == 200, "a workday in 110000: %r" % r)
