"""The operator page (issue 11): GET / on the admin listener in headless Chromium.

A lessongated with the admin listener (test_admin.Admin: libfaketime at 2026-09-21 15:00, a
school day, 3 s lessons and 2 s breaks) gets scripted traffic — allowed lesson requests, a
free one, a lesson refused at its limit — and Chromium (driven as in test_demo) loads the page;
the test checks what it *renders*: the counters, the open lessons, the refusal bar of the rule
in the last hour's chart, the recent violation, today's day kinds, and the month calendar
coloured by day kind (September 2026 with 中秋节 and the 国庆节 make-up Sunday, then October
after a click). /admin/v1/calendar's own answers are checked over HTTP too.

LG_IT_OPERATOR_SCREENSHOT=FILE saves a PNG of the page (docs/operator.png is made this way).
"""

import asyncio
import json
import os
import time

from harness import check, note
from test_admin import Admin
from test_demo import Browser, chromium


def traffic(a):
    """Two allowed lesson requests, a free one, then the same student refused at 3 s, and
    refused twice more on retrying."""
    for _ in range(2):
        r = a.get("/lesson/small", student="s-1")
        check(r.status == 200, "lesson request: %d" % r.status)
    r = a.get("/small", student="s-1")
    check(r.status == 200, "free request: %d" % r.status)
    end = time.time() + 15
    while True:
        r = a.get("/lesson/small", student="s-1")
        if r.status == 429:
            for _ in range(2):  # retries: one row "×3"
                r = a.get("/lesson/small", student="s-1")
                check(r.status == 429, "a retry: %d" % r.status)
            return
        check(r.status == 200 and time.time() < end,
              "the lesson was not refused at its 3 s limit: %d" % r.status)
        time.sleep(0.5)


def test_calendar_endpoint(env):
    a = Admin(env, name="cal")
    c = a.json("GET", "/admin/v1/calendar?month=2026-10&region=533100")
    check(c["month"] == "2026-10" and c["region"] == "533100" and len(c["days"]) == 31,
          "calendar: %r" % {k: c[k] for k in ("month", "region")})
    check(c["regions"][0] == "533100", "the default region is offered first: %r" % c["regions"])
    kinds = {d["date"]: (d["kind"], d.get("name")) for d in c["days"]}
    check(kinds["2026-10-01"] == ("holiday", "国庆节"), "10-01: %r" % (kinds["2026-10-01"],))
    check(kinds["2026-10-10"] == ("makeup_workday", "国庆节调休"), "10-10: %r" %
          (kinds["2026-10-10"],))
    check(c["first_weekday"] == 3, "2026-10-01 is a Thursday: %r" % c["first_weekday"])
    # No month: the daemon's own today (faketime), not the test machine's.
    c = a.json("GET", "/admin/v1/calendar")
    check(c["month"] == "2026-09", "the default month is the daemon's: %r" % c["month"])
    for q, what in (("month=2026-13", "month"), ("month=26-10", "month"),
                    ("region=53310", "region"), ("month=2026-1x", "month")):
        e = a.json("GET", "/admin/v1/calendar?" + q, status=400)
        check(what in json.dumps(e), "%s: the error names %s: %r" % (q, what, e))


def test_operator_page_headers(env):
    a = Admin(env, name="oph")
    st, h, body = a.admin("GET", "/")
    check(st == 200 and h.get("content-type") == "text/html; charset=utf-8",
          "GET /: %d %r" % (st, h.get("content-type")))
    csp = h.get("content-security-policy", "")
    check("default-src 'none'" in csp and "connect-src 'self'" in csp, "CSP: %r" % csp)
    text = body.decode("utf-8")
    check("<title>lessongate" in text and "http://" not in text.replace(
        "http://www.w3.org/2000/svg", "") and "https://" not in text,
          "the page is self-contained (no external resources)")
    st, h, body = a.admin("HEAD", "/")
    check(st == 200, "HEAD /: %d" % st)


async def scenario(b, url, shot):
    await b.open()
    await b.call("Page.enable")
    await b.goto(url)
    await b.until("document.body && document.body.getAttribute('data-updated')",
                  "the page's first update")
    meta = await b.until("document.getElementById('meta').textContent", "the header")
    check("generation 1" in meta and "2 workers" in meta and "enforce" in meta,
          "the header says: %r" % meta)
    store = await b.js("document.getElementById('health-store').textContent")
    check(store == "store: memory ok", "the store badge: %r" % store)
    counters = await b.until(
        "(function () { var o = {}; document.querySelectorAll('.counter').forEach(function (c) {"
        " o[c.id] = c.querySelector('b').textContent; }); return o; })()", "the counters")
    check(int(counters["counter-refused"]) >= 1, "refused counter: %r" % counters)
    check(int(counters["counter-allowed"]) >= 2, "allowed counter: %r" % counters)
    check(int(counters["counter-free"]) >= 1, "free counter: %r" % counters)
    check(int(counters["counter-lessons"]) >= 1, "lessons started: %r" % counters)
    check(counters["counter-students"] == "1", "students: %r" % counters)
    subject = await b.js("document.getElementById('open-subject') && "
                         "document.getElementById('open-subject').textContent")
    check(subject == "subject0", "open lessons row: %r" % subject)
    # The refusal: a bar of lesson_limit in the last minute, and the violation row.
    bar = await b.until("(function () { var r = document.querySelector("
                        "'#bars rect[data-rule=lesson_limit]'); return r && "
                        "[r.getAttribute('data-count'), r.getAttribute('x')]; })()",
                        "the lesson_limit bar")
    check(int(bar[0]) >= 1 and float(bar[1]) >= 580, "the bar: %r (the newest minute is "
          "drawn last)" % bar)
    legend = await b.js("document.getElementById('legend').innerText")
    check("lesson_limit" in legend, "legend: %r" % legend)
    row = await b.until("(function () { var r = document.querySelector('#violations tbody tr');"
                        " return r && r.innerText; })()", "the recent violation")
    check("lesson_limit" in row and "subject" in row and "/lesson/" in row and "s-1" in row and
          "2026-09-21T15:" in row, "violation row: %r" % row)
    rows = await b.js("document.querySelectorAll('#violations tbody tr').length")
    check(rows == 1 and "\u00d73" in row, "the retries fold into one row: %d %r" % (rows, row))
    today = await b.js("document.querySelector('#today').innerText")
    check("533100" in today and "workday" in today and "weekly" in today, "today: %r" % today)
    # The calendar: the daemon's month, day kinds as classes and colours.
    await b.until("document.getElementById('month').textContent === '2026-09'",
                  "the calendar at September 2026")
    cells = await b.js("(function () { var o = {}; document.querySelectorAll("
                       "'#cal [data-date]').forEach(function (c) { o[c.getAttribute("
                       "'data-date')] = [c.className, getComputedStyle(c).backgroundColor, "
                       "c.innerText]; }); return o; })()")
    check(len(cells) == 30, "30 days of September: %d" % len(cells))
    check(cells["2026-09-25"][0] == "holiday" and "中秋节" in cells["2026-09-25"][2],
          "2026-09-25: %r" % cells["2026-09-25"])
    check(cells["2026-09-25"][1] == "rgb(217, 58, 58)", "holidays are red: %r" %
          cells["2026-09-25"][1])
    check(cells["2026-09-20"][0] == "makeup_workday", "2026-09-20 (a make-up Sunday): %r" %
          cells["2026-09-20"])
    check(cells["2026-09-19"][0] == "rest_day", "2026-09-19: %r" % cells["2026-09-19"])
    check(cells["2026-09-21"][0] == "workday today", "today is marked: %r" %
          cells["2026-09-21"])
    check(cells["2026-09-20"][1] != cells["2026-09-19"][1] != cells["2026-09-21"][1],
          "make-up, rest and work days look different: %r" % cells)
    pads = await b.js("document.querySelectorAll('#cal .pad').length")
    check(pads == 1, "2026-09-01 is a Tuesday: %r empty cells before it" % pads)
    region = await b.js("document.getElementById('region').value")
    check(region == "533100", "the region selector: %r" % region)
    if shot:
        await b.screenshot(shot, height=1250)
        note("screenshot: %s" % shot)
    await b.js("document.getElementById('next').click()")
    await b.until("document.getElementById('month').textContent === '2026-10'", "October")
    oct1 = await b.until("document.querySelector('#cal [data-date=\"2026-10-01\"]') && "
                         "document.querySelector('#cal [data-date=\"2026-10-01\"]').className",
                         "October's first day")
    check(oct1 == "holiday", "2026-10-01: %r" % oct1)
    err = await b.js("document.getElementById('footer').className")
    check(err != "err", "the page reported an error: %r" % await b.js(
        "document.getElementById('footer').textContent"))
    await b.ws.close()


def test_operator_page_in_headless_chromium(env):
    chromium()  # skips clearly without it
    a = Admin(env, name="op")
    traffic(a)
    browser = Browser(env)
    try:
        asyncio.run(scenario(browser, "http://127.0.0.1:%d/" % a.aport,
                             os.environ.get("LG_IT_OPERATOR_SCREENSHOT")))
    finally:
        browser.stop()
