"""The first run, in a browser (issue 11): scripts/run's demo driven by headless Chromium.

scripts/run starts the real lessongated (this build's, via LESSONGATED) and the demo upstream
with a 20-second lesson and a 30-second break, their clocks at a school-day morning
(LG_DEMO_TIME, libfaketime). Chromium (Debian `chromium`, headless, as root with
--no-sandbox) is driven over the Chrome DevTools protocol (python3-websockets), and what
each page *renders* is checked: the 401 sign-in page, the sign-in form, the lesson page's
countdown and warning, the WebSocket closed with 4001 at the deadline, the break with the
time to come back, and the 429 page when the lesson is opened again during the break.

LG_IT_DEMO_SCREENSHOT=FILE also saves a PNG of the lesson page mid-lesson (docs/demo.png
is made this way).
"""

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import websockets

from harness import ROOT, Skip, TestFailure, check, free_port, note, wait_port
from test_enforce import faketime_lib

LESSON = 20  # seconds (LG_DEMO_LESSON)
BREAK = 30   # seconds (LG_DEMO_BREAK)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1100,900", "--hide-scrollbars"]


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise Skip("chromium is not installed (apt-get install chromium; scripts/deps test does)")


class Demo:
    """scripts/run in its own session, ready once it printed its URL."""

    def __init__(self, env):
        self.port, self.up, self.admin = free_port(), free_port(), free_port()
        tmp = os.path.join(env.dir, "demo-run")
        os.makedirs(tmp, exist_ok=True)
        e = dict(os.environ, LESSONGATED=env.binary, LG_PORT=str(self.port),
                 LG_UPSTREAM_PORT=str(self.up), LG_ADMIN_PORT=str(self.admin), LG_DEMO_LESSON="%ds" % LESSON,
                 LG_DEMO_BREAK="%ds" % BREAK, LG_DEMO_TIME="2026-09-21 10:00:00", TMPDIR=tmp)
        faketime_lib()  # skips clearly if libfaketime is missing
        self.log = open(os.path.join(env.dir, "demo-run.log"), "w+")
        self.proc = subprocess.Popen([os.path.join(ROOT, "scripts", "run")], env=e,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        end = time.time() + 20
        while "Ctrl-C stops it." not in self.text():
            if self.proc.poll() is not None or time.time() > end:
                raise TestFailure("scripts/run did not start: %s" % self.text()[-2000:])
            time.sleep(0.1)

    def text(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        """SIGTERM to scripts/run (its trap stops both servers), then the whole session."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()


class Browser:
    """Headless Chromium and one page, over the DevTools protocol."""

    def __init__(self, env):
        exe = chromium()
        self.dport = free_port()
        profile = os.path.join(env.dir, "chromium-profile")
        shutil.rmtree(profile, ignore_errors=True)
        self.log = open(os.path.join(env.dir, "chromium.log"), "w")
        self.proc = subprocess.Popen(
            [exe] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile,
                                      "--remote-debugging-port=%d" % self.dport, "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        wait_port(self.dport, timeout=30, proc=self.proc)
        targets = json.loads(urllib.request.urlopen(
            "http://127.0.0.1:%d/json/list" % self.dport, timeout=10).read())
        self.ws_url = [t for t in targets if t["type"] == "page"][0]["webSocketDebuggerUrl"]
        self.ws = None
        self.seq = 0

    async def open(self):
        self.ws = await websockets.connect(self.ws_url, max_size=64 << 20)

    async def call(self, method, **params):
        self.seq += 1
        n = self.seq
        await self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        end = time.time() + 30
        while True:
            try:
                m = json.loads(await asyncio.wait_for(self.ws.recv(), max(0.1, end - time.time())))
            except asyncio.TimeoutError:
                raise TestFailure("chromium did not answer %s %r in 30 s" % (method, params))
            if m.get("id") == n:
                if "error" in m:
                    raise TestFailure("%s: %s" % (method, m["error"]))
                return m["result"]

    async def js(self, expr):
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            return None  # the page is being replaced; the caller polls again
        return r["result"].get("value")

    async def until(self, expr, what, timeout=10.0):
        """Poll a JavaScript expression until it is truthy; its value."""
        end = time.time() + timeout
        last = None
        while time.time() < end:
            last = await self.js(expr)
            if last:
                return last
            await asyncio.sleep(0.2)
        body = await self.js("document.body ? document.body.innerText : ''")
        raise TestFailure("%s: not within %.0f s; the page says: %r" % (what, timeout,
                                                                         (body or "")[:1500]))

    async def text(self):
        return await self.js("document.body ? document.body.innerText : ''") or ""

    async def goto(self, url):
        await self.call("Page.navigate", url=url)

    async def screenshot(self, path, height=700):
        await self.call("Emulation.setDeviceMetricsOverride", width=1100, height=height,
                        deviceScaleFactor=1, mobile=False)
        await asyncio.sleep(0.3)
        r = await self.call("Page.captureScreenshot", format="png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


async def scenario(b, base):
    await b.open()
    await b.call("Page.enable")
    lesson = base + "/live/math-7a/"

    # 1. No sign-in: lessongate's bilingual 401 page, linking to the platform's sign-in.
    await b.goto(lesson)
    await b.until("document.title === '请先登录 / Please sign in'", "the 401 page")
    t = await b.text()
    check("上课前请先登录" in t and "Please sign in before joining a lesson." in t,
          "the 401 page's text: %r" % t)
    href = await b.js("document.querySelector('a').getAttribute('href')")
    check(href == "/login", "the 401 page links to %r, not identity.login_url /login" % href)

    # 2. The platform's sign-in page, which returns to the lesson (the referrer).
    await b.js("document.querySelector('a').click()")
    await b.until("location.pathname === '/login' && document.getElementById('next') && "
                  "document.getElementById('next').value === '/live/math-7a/'",
                  "the sign-in page, set to return to the lesson")
    await b.js("document.getElementById('name').value = '小明'; "
               "document.getElementById('signin').click()")

    # 3. The lesson: signed in, WebSocket open, counting down from 20 s.
    await b.until("location.pathname === '/live/math-7a/' && "
                  "document.getElementById('student') && "
                  "document.getElementById('student').textContent === '小明'",
                  "the lesson page, signed in as 小明")
    await b.until("document.getElementById('ws-state').textContent.startsWith('open')",
                  "the lesson's WebSocket open")
    first = await b.until("(/^0:(\\d\\d) \\((\\d+) 秒 s\\)$/.exec("
                          "document.getElementById('remaining').textContent) || [])[2]",
                          "the countdown")
    t0 = time.time()
    check(LESSON - 8 <= int(first) <= LESSON, "the countdown starts at %s s, not about %d" %
          (first, LESSON))
    # 60 s or less left: the status stream's warning is shown at once.
    notice = await b.until("!document.getElementById('notice').hidden && "
                           "document.getElementById('notice').innerText", "the warning")
    check(re.search(r"Warning: \d+ seconds left in this lesson\.", notice) and "提醒" in notice,
          "the warning says: %r" % notice)
    await asyncio.sleep(2.2)
    later = int(await b.until("(/\\((\\d+) 秒 s\\)$/.exec("
                              "document.getElementById('remaining').textContent) || [])[1]",
                              "the countdown, later"))
    check(1 <= int(first) - later <= 5, "the countdown went %s -> %d in 2 s" % (first, later))
    shot = os.environ.get("LG_IT_DEMO_SCREENSHOT")
    if shot:
        await b.screenshot(shot)
        note("screenshot: %s" % shot)

    # 4. The deadline: the WebSocket is closed with 4001, the page says the time is up,
    #    and when the student may come back.
    closed = await b.until("document.getElementById('ws-state').textContent.includes('4001') && "
                           "document.getElementById('ws-state').textContent",
                           "the WebSocket closed at the deadline", timeout=later + 8)
    check("lesson time is up" in closed and "本节课时间已到" in closed,
          "the closed message: %r" % closed)
    check(time.time() - t0 >= int(first) - 4, "closed %.1f s after %s s were left" %
          (time.time() - t0, first))
    await b.until("document.getElementById('remaining').textContent.includes('Time is up')",
                  "the countdown at zero")
    notice = await b.until("document.getElementById('rejoin') && "
                           "document.getElementById('notice').innerText",
                           "the break notice")
    check(re.search(r"You may come back at 10:0\d:\d\d \(in \d+ s\)", notice) and
          "休息一下" in notice, "the break notice says: %r" % notice)

    # 5. Opening the lesson again during the break: lessongate's 429 page.
    await b.js("document.getElementById('rejoin').click()")
    await b.until("document.title === '休息一下 / Time for a break'", "the 429 page")
    t = await b.text()
    check("has reached its 20-second limit; lessons must be at least 30 seconds apart." in t,
          "the 429 page's rule: %r" % t)
    check(re.search(r"You may come back at: 2026-09-21 10:0\d \(Asia/Shanghai\) — \d+ 秒后 / "
                    r"in \d+ seconds?", t), "the 429 page's time to come back: %r" % t)
    # 6. The platform's home page (free) knows who is signed in and lists the lessons.
    await b.goto(base + "/")
    await b.until("document.getElementById('student') && "
                  "document.getElementById('student').textContent === '小明' && "
                  "document.querySelectorAll('#lessons a').length === 3", "the home page")
    links = await b.js("[].map.call(document.querySelectorAll('#lessons a'), "
                       "function (a) { return a.getAttribute('href'); }).join(' ')")
    check(links == "/live/math-7a/ /live/english-5/ /art/live/art-3/", "lesson links: %r" % links)
    await b.ws.close()


def test_demo_in_headless_chromium(env):
    exe = chromium()
    demo = Demo(env)
    browser = None
    try:
        wait_port(demo.port, timeout=10)
        browser = Browser(env)
        note("%s, scripts/run on port %d" % (exe, demo.port))
        asyncio.run(scenario(browser, "http://127.0.0.1:%d" % demo.port))
        # The curl lines still work beside the cookie: a trusted header names the student.
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                            "X-Student-Id: alice", "http://127.0.0.1:%d/art/live/" % demo.port],
                           capture_output=True, text=True, timeout=10)
        check(r.stdout == "200", "curl with X-Student-Id: %r" % r.stdout)
        # The operator page's data on the admin listener scripts/run configures: the lesson
        # and the 429 of the scenario are counted.
        ov = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/admin/v1/overview" %
                                               demo.admin, timeout=10).read())
        check(ov["lessons_started"]["subject"] >= 1 and
              any(v["rule"] == "lesson_limit" for v in ov["recent_violations"]),
              "the admin listener's overview: %r" % {k: ov[k] for k in ("lessons_started",
                                                                       "recent_violations")})
    finally:
        if browser:
            browser.stop()
        demo.stop()
    out = demo_text(env)
    check("a lesson lasts 20s" in out and "the break 30s" in out and
          "closed with code 4001" in out and
          "the operator page:  http://127.0.0.1:%d/" % demo.admin in out,
          "scripts/run did not print the demo rules and the operator page: %r" %
          out[-1500:])


def demo_text(env):
    with open(os.path.join(env.dir, "demo-run.log")) as f:
        return f.read()


test_demo_in_headless_chromium.timeout = 120


def test_demo_rejects_bad_durations(env):
    """LG_DEMO_LESSON/LG_DEMO_BREAK that are not whole seconds or minutes stop scripts/run
    with a message naming the variable, before anything starts."""
    for var, value, msg in (("LG_DEMO_LESSON", "3 minutes", "expected whole seconds or minutes"),
                            ("LG_DEMO_BREAK", "1m30s", "expected whole seconds or minutes"),
                            ("LG_DEMO_LESSON", "1h", "expected whole seconds or minutes"),
                            ("LG_DEMO_LESSON", "2s", "between 3s and 30m"),
                            ("LG_DEMO_LESSON", "31m", "between 3s and 30m")):
        e = dict(os.environ, LESSONGATED=env.binary, LG_PORT=str(free_port()),
                 LG_UPSTREAM_PORT=str(free_port()), LG_ADMIN_PORT=str(free_port()),
                 TMPDIR=env.dir)
        e[var] = value
        r = subprocess.run([os.path.join(ROOT, "scripts", "run")], env=e, capture_output=True,
                           text=True, timeout=20, stdin=subprocess.DEVNULL)
        check(r.returncode == 2 and '%s="%s"' % (var, value) in r.stderr and msg in r.stderr,
              "%s=%r: exit %d, %r" % (var, value, r.returncode, r.stderr[-500:]))
        check("lessongate is running" not in r.stdout, "%s=%r started the demo" % (var, value))
