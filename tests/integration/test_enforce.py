"""Enforcement end to end (issue 4): identity, lesson routes, refusals, live deadlines, warnings.

The real lessongated runs under libfaketime, each daemon with its own fake clock that
starts at a chosen local time (Asia/Shanghai) and then advances in real time, or faster
("x120": two fake minutes per real second) for the 30-minute scenarios. Clients are raw
sockets (harness.HttpConn), curl and Python `websockets`; the origin records every request
and every WebSocket Close it receives, so "a refused request never reaches the platform"
and "the Close went to both sides" are checked on the origin's side.

libfaketime notes (found while writing these tests, libfaketime 0.9.10, Debian):
- The `faketime` command forks and does not forward signals: SIGTERM/SIGHUP sent to it
  leave the daemon running (orphaned). So the daemon is started with the library preloaded
  directly (LD_PRELOAD + FAKETIME, exactly what `faketime -m -f SPEC` sets), which keeps the
  daemon's pid the one the harness signals.
- FAKETIME="@YYYY-MM-DD hh:mm:ss" is read in the process's TZ: without TZ=Asia/Shanghai
  (this machine's TZ is UTC) 10:00 would be 18:00 in Shanghai. TZ is set for the daemon.
- The "@" clock starts when the process starts (library constructor), not when the test
  asked for it; FakeClock below narrows the offset from what the daemon tells (Remaining,
  Retry-After against the absolute Deadline/retry_at), so sped-up checks stay exact.
- CLOCK_MONOTONIC is faked (and sped up) as well, and epoll_wait timeouts are divided by
  the speed factor, so libevent timers fire on fake time: a deadline timer 30 fake minutes
  ahead fires 15 real seconds later at x120. Every *other* timeout is sped up too (the
  default 75 s keep-alive is 0.6 s at x120), so sped-up daemons get long timeouts here.
- The multithreaded variant (libfaketimeMT) is used: workers = 2 daemons see one clock.
- Sped-up time cannot be more precise than scheduling jitter times the factor: at x120
  10 ms of jitter is more than a fake second, so the +-1 s deadline check is made at real
  speed (20:59:50 -> 21:00:00) and sped-up deadline checks allow a few fake seconds.

Each test has its own daemon(s); the whole module takes about one minute (two cores).
"""

import asyncio
import base64
import datetime
import glob
import hashlib
import hmac
import json
import os
import re
import select
import socket
import subprocess
import threading
import time

import websockets

from harness import (ROOT, ConnClosed, HttpConn, Response, Skip, TestFailure, check, curl,
                     note)

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
STATUS_PATH = "/.well-known/lessongate/status"
REGULATION = "https://lessongate.test/regulation"
LINK = '<%s>; rel="blocked-by"' % REGULATION
ISSUER = "https://platform.test"
CAL_2026 = os.path.join(ROOT, "conf", "calendar", "cn-2026.conf")
LOG_EVENT = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')

# Real seconds of scheduling jitter allowed for a timed event under sped-up time (2 cores, the
# daemon, the origin and the clients all busy): x120 turns 0.1 s into 12 fake seconds. The
# +-1 s deadline bar itself is checked at real speed.
JITTER = 0.1

# The SSE form of the status endpoint: the same path, asked for with this Accept header.
SSE_HEADERS = [("Accept", "text/event-stream")]


# ---------------------------------------------------------------- time


def at(s):
    """Unix time of a Shanghai local time "YYYY-MM-DD hh:mm:ss"."""
    return int(datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=SHANGHAI).timestamp())


def rfc3339(s):
    """Unix time of an RFC 3339 string such as 2026-09-21T21:00:00+08:00."""
    check(isinstance(s, str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d|Z)$", s),
          "not an RFC 3339 time: %r" % (s,))
    return int(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def local(t):
    return datetime.datetime.fromtimestamp(t, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def faketime_lib():
    for pat in ("/usr/lib/*/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1",
                "/usr/lib/*/faketime/libfaketime.so.1"):
        found = sorted(glob.glob(pat))
        if found:
            return found[0]
    raise Skip("libfaketime is not installed (apt-get install faketime)")


class FakeClock:
    """The daemon's fake clock as seen from here: start + (real - r0) * speed - lag.

    lag (the fake seconds between starting the process and libfaketime starting its
    clock) is bounded from what the daemon answers: a decision at whole fake second t
    made between real times rs and rr.
    """

    def __init__(self, start, speed, r0):
        self.start = start
        self.speed = speed
        self.r0 = r0
        self.lo = 0.0
        self.hi = 2.0 * speed  # the process started within 2 s of Popen

    def observe(self, t, rs, rr, what=""):
        hi = self.start + (rr - self.r0) * self.speed - t
        lo = self.start + (rs - self.r0) * self.speed - t - 1.0
        slack = 0.002 * self.speed  # our clock readings are not instantaneous either
        self.hi = min(self.hi, hi + slack)
        self.lo = max(self.lo, lo - slack)
        check(self.lo <= self.hi,
              "the daemon's clock disagrees with libfaketime's start (%s at %s): lag bounds "
              "%.2f..%.2f" % (what, local(t), self.lo, self.hi))

    def at(self, r):
        return self.start + (r - self.r0) * self.speed - (self.lo + self.hi) / 2

    def error(self):
        return (self.hi - self.lo) / 2

    def now(self):
        return self.at(time.time())

    def sleep_until(self, t):
        dt = (t - self.now()) / self.speed
        if dt > 0:
            time.sleep(dt)

    def sleep(self, fake_seconds):
        time.sleep(fake_seconds / self.speed)


# ---------------------------------------------------------------- keys and tokens


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jdump(o):
    return json.dumps(o, separators=(",", ":")).encode()


_KEYS = {}


class Keys:
    """An HS256 secret file, an RSA key pair for the daemon, and a second (attacker's) RSA key."""

    def __init__(self, env):
        self.dir = os.path.join(env.dir, "jwt")
        os.makedirs(self.dir, exist_ok=True)
        self.secret_file = os.path.join(self.dir, "hs256.secret")
        self.secret = b64u(os.urandom(36)).encode()  # 48 bytes, no newline
        with open(self.secret_file, "wb") as f:
            f.write(self.secret)
        self.rsa = os.path.join(self.dir, "rsa.pem")
        self.rsa_pub = os.path.join(self.dir, "rsa.pub.pem")
        self.other = os.path.join(self.dir, "other.pem")
        for k in (self.rsa, self.other):
            self._openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                          "-out", k)
        self._openssl("pkey", "-in", self.rsa, "-pubout", "-out", self.rsa_pub)
        with open(self.rsa_pub, "rb") as f:
            self.rsa_pub_bytes = f.read()

    def _openssl(self, *args, data=None):
        r = subprocess.run(["openssl"] + list(args), input=data, capture_output=True, timeout=30)
        if r.returncode != 0:
            raise TestFailure("openssl %s: %s" % (args[0], r.stderr.decode()[-300:]))
        return r.stdout

    def hs256(self, claims, secret=None, header=None):
        si = b64u(jdump(header or {"alg": "HS256", "typ": "JWT"})) + "." + b64u(jdump(claims))
        mac = hmac.new(secret if secret is not None else self.secret, si.encode(),
                       hashlib.sha256).digest()
        return si + "." + b64u(mac)

    def rs256(self, claims, key=None, header=None):
        si = b64u(jdump(header or {"alg": "RS256", "typ": "JWT"})) + "." + b64u(jdump(claims))
        sig = self._openssl("dgst", "-sha256", "-sign", key or self.rsa, data=si.encode())
        return si + "." + b64u(sig)


def keys(env):
    k = _KEYS.get(env.dir)
    if k is None:
        k = _KEYS[env.dir] = Keys(env)
    return k


def claims(student, now, region=None, life=86400, **extra):
    c = {"sub": student, "iss": ISSUER, "iat": now - 60, "exp": now + life}
    if region:
        c["region"] = region
    c.update(extra)
    return c


def bearer(tok):
    return [("Authorization", "Bearer " + tok)]


# ---------------------------------------------------------------- daemons


def vacation_file(env):
    p = os.path.join(env.dir, "vacation-110000.conf")
    with open(p, "w") as f:
        f.write('# test vacation: Beijing (110000 and every 11xxxx), 2026-09-21 .. 09-23\n'
                'year = 2026;\nsource = "lessongate integration tests";\n'
                'vacations = ( { region = "110000"; name = "测试假期"; '
                'from = "2026-09-21"; to = "2026-09-23"; } );\n')
    return p


ROUTES = [
    {"prefix": "/live/", "class": "subject"},
    {"path": "/ws", "class": "subject"},
    {"prefix": "/art/", "class": "non_subject"},
]


class Gate:
    """A lessongated with enforcement under a fake clock, its FakeClock and its keys."""

    def __init__(self, env, start, speed=1, jwt="hs256", header=None, rules=None, mode=None,
                 workers=1, vacations=False, routes=None, identity_extra=None,
                 upstream_extra=None, state=None, name="enf", env_extra=None, wait=True):
        self.env = env
        self.keys = keys(env)
        self.speed = speed
        self.start = at(start)
        identity = {}
        if jwt == "hs256":
            identity["jwt"] = {"keys": self.keys.secret_file, "algorithms": ["HS256"],
                               "region_claim": "region", "issuer": ISSUER, "leeway": "30s"}
        elif jwt == "rs256":
            identity["jwt"] = {"keys": self.keys.rsa_pub, "algorithms": ["RS256"],
                               "region_claim": "region", "issuer": ISSUER, "leeway": "30s"}
        if header:
            identity["header"] = {"name": "X-Student-Id", "trusted_peers": header}
        identity.update(identity_extra or {})
        r = {"regulation_url": REGULATION}
        r.update(rules or {})
        cal = {"files": [CAL_2026] + ([vacation_file(env)] if vacations else []),
               "default_region": "533100"}
        extra = {"identity": identity, "routes": routes or ROUTES, "rules": r, "calendar": cal}
        if mode:
            extra["mode"] = mode
        if state:
            extra["state"] = state
        spec = "@%s" % start + (" x%s" % speed if speed != 1 else "")
        envx = {"LD_PRELOAD": faketime_lib(), "FAKETIME": spec, "TZ": "Asia/Shanghai"}
        envx.update(env_extra or {})
        long_ = speed > 1
        timeouts = {"keepalive": "1h", "client_header": "1h", "body": "1h"} if long_ else None
        upstream = {"address": "127.0.0.1:%d" % env.origin().port}
        if long_:
            upstream.update({"connect_timeout": "10m", "response_timeout": "4h"})
        upstream.update(upstream_extra or {})
        self.r0 = time.time()
        self.d = env.daemon(upstream=upstream, workers=workers, timeouts=timeouts, extra=extra,
                            env_extra=envx, name=name, wait=wait)
        self.port = self.d.port
        self.clock = FakeClock(self.start, speed, self.r0)

    # tokens valid on this daemon's fake day
    def token(self, student, region=None, **kw):
        return self.keys.hs256(claims(student, self.start, region, **kw))

    def rs_token(self, student, region=None, **kw):
        return self.keys.rs256(claims(student, self.start, region, **kw))

    def request(self, target, token=None, headers=(), method="GET"):
        """One request on a fresh connection: (Response, real send time, real receive time)."""
        h = list(headers)
        if token:
            h += bearer(token)
        h.append(("Connection", "close"))
        with HttpConn(self.port, timeout=10) as c:
            rs = time.time()
            r = c.request(method, target, headers=h)
            rr = time.time()
        self.learn(r, rs, rr, target)
        return r

    def learn(self, r, rs, rr, what=""):
        """Let the fake clock learn from any decision the daemon reports."""
        rem, dl = r.header("Lessongate-Remaining"), r.header("Lessongate-Deadline")
        if rem is not None and dl is not None and rem.isdigit():
            self.clock.observe(rfc3339(dl) - int(rem), rs, rr, what)
        ra = r.header("Retry-After")
        if ra is not None and ra.isdigit() and r.body[:1] == b"{":
            try:
                body = json.loads(r.body)
            except ValueError:
                return
            if body.get("retry_at"):
                self.clock.observe(rfc3339(body["retry_at"]) - int(ra), rs, rr, what)

    def log_events(self):
        """The daemon's "lesson event" log lines as dicts."""
        if not self.d.log.closed:
            self.d.log.flush()
        out = []
        with open(self.d.logpath, "rb") as f:
            for line in f.read().decode("utf-8", "replace").splitlines():
                if 'msg="lesson event"' in line:
                    out.append({k: v.strip('"') for k, v in LOG_EVENT.findall(line)})
        return out

    def log_events_until(self, pred, timeout=3):
        """log_events() once pred(events) holds, or as they are after timeout: the log thread
        writes a line a little after the answer it describes went out."""
        ev = wait_for(lambda: (lambda e: e if pred(e) else None)(self.log_events()), timeout)
        return ev if ev else self.log_events()

    def log_text(self):
        """The daemon's whole log so far."""
        if not self.d.log.closed:
            self.d.log.flush()
        with open(self.d.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def aggregated_count(self, key, want, wait=12):
        """The sum of key=N over the "client errors (aggregated)" lines, waiting (up to wait
        seconds) for it to reach want."""
        end = time.monotonic() + wait
        while True:
            n = sum(int(v) for line in self.log_text().splitlines()
                    if 'msg="client errors (aggregated)"' in line
                    for v in re.findall(r"\b%s=(\d+)" % key, line))
            if n >= want or time.monotonic() > end:
                return n
            time.sleep(0.5)

    def stop(self):
        self.d.stop()

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self.d.__exit__(et, ev, tb)


class HandshakeHead:
    """The 101 of a websockets client connection, looking like a harness Response."""

    status = 101

    def __init__(self, headers):
        self.headers = list(headers.raw_items())
        self._h = headers

    def header(self, name):
        return self._h.get(name)


def allowed(r, what):
    """The request was forwarded as a lesson: not refused, with the Lessongate-* headers."""
    check(r.status not in (400, 401, 405, 429, 451, 502, 503, 504),
          "%s: expected the lesson to be allowed, got %r (%s)" % (what, r, r.headers))
    rem, dl = r.header("Lessongate-Remaining"), r.header("Lessongate-Deadline")
    check(rem is not None and rem.isdigit() and dl is not None,
          "%s: an allowed lesson needs Lessongate-Remaining and Lessongate-Deadline: %s" %
          (what, r.headers))
    return int(rem), rfc3339(dl)


def refused(r, status, rule, what):
    """A 429/451 refusal, checked against DESIGN.md: headers and the JSON body."""
    check(r.status == status, "%s: expected %d (%s), got %r %s" % (what, status, rule, r,
                                                                   r.headers))
    check((r.header("Content-Type") or "").startswith("application/json"),
          "%s: JSON refusal expected: %s" % (what, r.header("Content-Type")))
    body = r.json()
    check(body.get("rule") == rule, "%s: rule %r, want %r: %s" % (what, body.get("rule"), rule,
                                                                 body))
    check(body.get("enforced") is True, "%s: enforced should be true: %s" % (what, body))
    ra = r.header("Retry-After")
    check(ra is not None and ra.isdigit(), "%s: Retry-After missing or not seconds: %r" %
          (what, ra))
    check(body.get("retry_after") == int(ra), "%s: body retry_after %r vs Retry-After %s" %
          (what, body.get("retry_after"), ra))
    retry_at = rfc3339(body.get("retry_at"))
    if status == 451:
        check(r.header("Link") == LINK, "%s: Link %r, want %r" % (what, r.header("Link"), LINK))
        check(body.get("regulation") == REGULATION, "%s: regulation %r" % (what, body))
    else:
        check(r.header("Link") is None, "%s: a 429 has no blocked-by Link: %r" %
              (what, r.header("Link")))
    return int(ra), retry_at, body


def unauthorized(r, what):
    check(r.status == 401, "%s: expected 401, got %r %s" % (what, r, r.headers))
    body = r.json()
    check(body.get("error") == "unauthorized" and body.get("reason"),
          "%s: 401 body should say why: %s" % (what, body))
    check((r.header("WWW-Authenticate") or "").startswith("Bearer"),
          "%s: 401 without WWW-Authenticate: Bearer: %s" % (what, r.headers))
    return body["reason"]


def origin_targets(o, mark):
    return [r["target"] for r in o.requests_since(mark)]


def seen(o, mark, tag):
    """Requests the origin received since mark whose target contains tag."""
    return [t for t in origin_targets(o, mark) if tag in t]


def ws_url(g, path="/ws"):
    return "ws://127.0.0.1:%d%s" % (g.port, path)


def ws_connect(g, token=None, path="/ws"):
    return websockets.connect(ws_url(g, path), extra_headers=bearer(token) if token else [],
                              open_timeout=5, close_timeout=5, ping_interval=None,
                              max_size=None)


def last_ws(o, mark, tag):
    for c in reversed(o.conns(since=mark[0])):
        # The upgrade may ride on a pooled upstream connection that carried other requests.
        if c["ws"] and any(tag in r["target"] for r in c["requests"]):
            return c
    return None


def wait_for(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class WsWatch:
    """A WebSocket lesson in a thread: opens, echoes a message every `every` s, records the close."""

    def __init__(self, g, token, tag, every=0.2, limit=60, reopen=False):
        self.g, self.token, self.tag, self.every, self.limit = g, token, tag, every, limit
        self.reopen = reopen
        self.reopen_status = None
        self.opened = None
        self.headers = None
        self.echoes = 0
        self.code = None
        self.reason = None
        self.closed_at = None
        self.error = None
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    async def _go(self):
        rs = time.time()
        async with ws_connect(self.g, self.token, "/ws?tag=" + self.tag) as ws:
            self.opened = (rs, time.time())
            self.headers = ws.response_headers
            # The moment the connection closes, not the next time we happen to look.
            closed = asyncio.ensure_future(ws.wait_closed())
            closed.add_done_callback(lambda f: setattr(self, "closed_at", time.time()))
            i = 0
            try:
                while not closed.done():
                    await ws.send("m%d" % i)
                    got = await asyncio.wait_for(ws.recv(), 5)
                    if got != "m%d" % i:
                        raise RuntimeError("echo %r for m%d" % (got, i))
                    self.echoes += 1
                    i += 1
                    await asyncio.wait([closed], timeout=self.every)
            except websockets.ConnectionClosed:
                pass
            await asyncio.wait_for(closed, 5)
            rcvd = getattr(ws, "close_rcvd", None)
            self.code = rcvd.code if rcvd is not None else ws.close_code
            self.reason = rcvd.reason if rcvd is not None else ws.close_reason
        if self.reopen:
            # Right after a forced close the student is on a break (or past 21:00).
            try:
                await _ws_open_status(self.g, self.token, "/ws?tag=%s-again" % self.tag)
                self.reopen_status = 101
            except websockets.InvalidStatusCode as e:
                self.reopen_status = e.status_code

    def _run(self):
        try:
            asyncio.run(asyncio.wait_for(self._go(), self.limit))
        except Exception as e:  # reported by the test
            self.error = e

    def join(self, timeout):
        self.t.join(timeout)
        return not self.t.is_alive()


# ---------------------------------------------------------------- the lesson clock


def test_enforce_lesson_limit_break_and_tunnel_4001(env):
    """30 minutes, 429 with the right Retry-After, retries don't lengthen the break, new
    lesson after 10 minutes; a 5-minute pause does not reset the clock; a WebSocket lesson
    is closed with 4001 at its 30-minute limit on both sides."""
    o = env.origin()
    with Gate(env, "2026-09-21 10:00:00", speed=120) as g:
        clock = g.clock
        mark = o.mark()
        tok = g.token("stu-a", "533100")
        # A WebSocket lesson of another student, open from the start.
        ws = WsWatch(g, g.token("stu-ws"), "limit4001", every=0.25, limit=90, reopen=True)

        sent = {}

        def lesson(i, headers=()):
            tag = "n=%d" % i
            r = g.request("/live/lesson?%s" % tag, tok, headers)
            sent[tag] = r
            return r

        r = lesson(1)
        rem1, deadline = allowed(r, "first request of the day")
        t1 = deadline - rem1
        check(rem1 == 1800, "a new lesson has 1800 s left, got %d (deadline %s)" %
              (rem1, local(deadline)))
        check(t1 - g.start < 30, "first request at %s, the fake day started %s" %
              (local(t1), local(g.start)))

        # A 5-minute pause does not reset the clock: same deadline.
        clock.sleep(300)
        r = lesson(2)
        rem2, dl2 = allowed(r, "after a 5-minute pause")
        check(dl2 == deadline, "a 5-minute pause moved the deadline %s -> %s" %
              (local(deadline), local(dl2)))
        check(290 <= deadline - rem2 - t1 <= 330, "the pause was %d fake s" %
              (deadline - rem2 - t1))

        # Activity every fake minute until the lesson runs out.
        last_allowed = deadline - rem2
        i = 3
        while True:
            clock.sleep(60)
            r = lesson(i)
            i += 1
            if r.status == 429:
                break
            rem, dl = allowed(r, "request %d of the lesson" % (i - 1))
            check(dl == deadline, "the deadline moved during the lesson: %s -> %s" %
                  (local(deadline), local(dl)))
            last_allowed = dl - rem
            check(clock.now() < deadline + 120, "no 429 two minutes after the deadline %s" %
                  local(deadline))
        ra, retry_at, body = refused(r, 429, "lesson_limit", "after 30 minutes")
        check(body.get("error") == "lesson_limit" and body.get("class") == "subject",
              "429 body: %s" % body)
        t_refused = retry_at - ra
        check(t_refused >= deadline, "refused at %s, before the deadline %s" %
              (local(t_refused), local(deadline)))
        # Lesson activity lasts until the last allowed response is complete (issue 7
        # item 8), a little after its request: at 120 fake seconds a real one, the
        # response's few milliseconds can cross a fake second or two.
        check(0 <= retry_at - (last_allowed + 600) <= 3,
              "retry_at %s should be the last lesson activity (the response to the request "
              "at %s) + 10 min" % (local(retry_at), local(last_allowed)))
        check(0 < ra <= 600, "Retry-After %d" % ra)

        # The bilingual page for browsers.
        rh = g.request("/live/lesson?html=1", tok, [("Accept", "text/html,*/*;q=0.8")])
        check(rh.status == 429 and (rh.header("Content-Type") or "").startswith("text/html"),
              "HTML refusal: %r %s" % (rh, rh.headers))
        page = rh.body.decode("utf-8", "replace")
        check("休息一下" in page and "Time for a break" in page and
              rh.header("Retry-After") is not None, "the 429 page is not bilingual: %r" % page[:300])

        # Refused retries do not lengthen the break.
        for k in range(3):
            clock.sleep(60)
            r = lesson(i)
            i += 1
            ra_k, retry_at_k, _ = refused(r, 429, "lesson_limit", "retry %d" % k)
            check(retry_at_k == retry_at, "retry %d moved the end of the break %s -> %s" %
                  (k, local(retry_at), local(retry_at_k)))
            check(ra_k < ra, "Retry-After did not go down: %d then %d" % (ra, ra_k))
            ra = ra_k

        # Still refused just before the break ends, allowed after it.
        clock.sleep_until(retry_at - 30 - clock.error())
        r = lesson(i)
        i += 1
        ra_k, retry_at_k, _ = refused(r, 429, "lesson_limit", "30 s before the break ends")
        check(retry_at_k == retry_at and ra_k <= 30 + 2 * clock.error() + 2,
              "just before the end of the break: Retry-After %d retry_at %s" %
              (ra_k, local(retry_at_k)))
        clock.sleep_until(retry_at + 10 + clock.error())
        r = lesson(i)
        rem3, dl3 = allowed(r, "after the 10-minute break")
        check(rem3 == 1800 and dl3 - 1800 >= retry_at,
              "a new lesson after the break: remaining %d deadline %s (break ended %s)" %
              (rem3, local(dl3), local(retry_at)))

        # Refused requests never reached the origin; allowed ones did, path unchanged.
        targets = origin_targets(o, mark)
        for tag, resp in sent.items():
            got = [t for t in targets if t == "/live/lesson?" + tag]
            if resp.status in (429, 451, 401):
                check(not got, "the refused request %s reached the origin" % tag)
            else:
                check(len(got) == 1, "the allowed request %s reached the origin %d times (%s)" %
                      (tag, len(got), targets[-5:]))
        check(not [t for t in targets if "html=1" in t], "the HTML refusal reached the origin")

        # The WebSocket lesson: closed with 4001 at start + 30 min, on both sides.
        check(ws.join(15), "the WebSocket lesson was not closed at its 30-minute limit")
        check(ws.error is None, "WebSocket client: %r" % ws.error)
        rem_ws, dl_ws = allowed(HandshakeHead(ws.headers), "WebSocket 101")
        g.clock.observe(dl_ws - rem_ws, ws.opened[0], ws.opened[1], "101")
        check(rem_ws == 1800, "the WebSocket lesson had %d s, want 1800" % rem_ws)
        check(ws.code == 4001, "the client got Close %r %r, want 4001" % (ws.code, ws.reason))
        closed = clock.at(ws.closed_at)
        tol = 1 + JITTER * g.speed + clock.error()
        check(abs(closed - dl_ws) <= tol, "the WebSocket was closed at %.1f fake s from its "
              "deadline %s (tolerance %.1f s at x%d)" % (closed - dl_ws, local(dl_ws), tol,
                                                         g.speed))
        check(ws.echoes > 10, "the WebSocket lesson echoed only %d messages" % ws.echoes)
        oc = wait_for(lambda: (lambda c: c if c and c["closed"] else None)(
            last_ws(o, mark, "limit4001")), 3)
        check(oc is not None, "the origin's WebSocket was not closed: %s" % (
            {k: v for k, v in (last_ws(o, mark, "limit4001") or {}).items() if k != "requests"},))
        check(oc["ws"]["close_code_in"] == 4001, "the origin got Close %r, want 4001" %
              oc["ws"]["close_code_in"])
        note("4001 close %.2f fake s after the deadline (lag error %.2f)" %
             (closed - dl_ws, clock.error()))
        # The same student could not reopen right after the close: the break had begun.
        check(ws.reopen_status == 429, "reopening the WebSocket lesson right after its 30-minute "
              "limit: %r, want 429" % ws.reopen_status)
        ev = g.log_events_until(lambda ev: {"lesson_start", "deny", "forced_close"} <=
                                {e.get("event") for e in ev})
        kinds = {e.get("event") for e in ev}
        check({"lesson_start", "deny", "forced_close"} <= kinds,
              "lesson events logged: %s" % sorted(kinds))
        fc = [e for e in ev if e.get("event") == "forced_close"]
        check(fc and fc[0].get("rule") == "lesson_limit", "forced_close event: %s" % fc)


test_enforce_lesson_limit_break_and_tunnel_4001.timeout = 60


async def _ws_open_status(g, token, path="/ws"):
    async with ws_connect(g, token, path) as ws:
        await ws.close()


# ---------------------------------------------------------------- the day's end


def test_enforce_websocket_closed_at_2100_with_4002(env):
    """A lesson WebSocket (opened at 20:59:50, real speed) is closed at 21:00:00 +-1 s with
    4002 on both sides; after it, 451 to the next morning with the blocked-by Link."""
    o = env.origin()
    with Gate(env, "2026-09-21 20:59:50") as g:
        mark = o.mark()
        ws = WsWatch(g, g.token("stu-e"), "close4002", every=0.1, limit=30)
        check(wait_for(lambda: ws.opened or ws.error, 5), "the WebSocket did not open")
        check(ws.error is None, "WebSocket client: %r" % ws.error)
        rem = int(ws.headers.get("Lessongate-Remaining", "-1"))
        dl = rfc3339(ws.headers.get("Lessongate-Deadline"))
        g.clock.observe(dl - rem, ws.opened[0], ws.opened[1], "101")
        end = at("2026-09-21 21:00:00")
        check(dl == end, "the lesson's deadline is %s, want 21:00:00" % local(dl))
        check(ws.join(20), "the WebSocket was not closed at 21:00")
        check(ws.error is None, "WebSocket client: %r" % ws.error)
        check(ws.code == 4002, "the client got Close %r %r, want 4002" % (ws.code, ws.reason))
        closed = g.clock.at(ws.closed_at)
        check(abs(closed - end) <= 1.0 + g.clock.error(),
              "closed at %s%+.2f s, want 21:00:00 +- 1 s" % (local(end), closed - end))
        note("4002 close at 21:00:00%+.3f (clock error %.3f)" % (closed - end, g.clock.error()))
        check(ws.echoes >= 20, "only %d echoes before the close" % ws.echoes)
        oc = wait_for(lambda: (lambda c: c if c and c["closed"] else None)(
            last_ws(o, mark, "close4002")), 3)
        check(oc is not None, "the origin's side of the tunnel was not closed")
        check(oc["ws"]["close_code_in"] == 4002, "the origin got Close %r, want 4002" %
              oc["ws"]["close_code_in"])

        # Now 21:00:0x: 451 until tomorrow 00:00 (no day_start), for every lesson class.
        m2 = o.mark()
        tok = g.token("stu-f")
        r = g.request("/live/x", tok)
        ra, retry_at, body = refused(r, 451, "day_end", "a lesson at 21:00")
        check(retry_at == at("2026-09-22 00:00:00"), "retry_at %s, want 2026-09-22 00:00:00" %
              local(retry_at))
        check(abs((retry_at - ra) - g.clock.now()) <= 2 + g.clock.error(),
              "Retry-After %d does not count from now (%s)" % (ra, local(g.clock.now())))
        r = g.request("/art/x", tok)
        refused(r, 451, "day_end", "a non-subject lesson at 21:00")
        rh = g.request("/live/x", tok, [("Accept", "text/html")])
        page = rh.body.decode("utf-8", "replace")
        check(rh.status == 451 and "现在不能上课" in page and "No lessons now" in page and
              rh.header("Link") == LINK, "HTML 451: %r %s" % (rh, page[:200]))
        try:
            asyncio.run(asyncio.wait_for(_ws_open_status(g, tok, "/ws?tag=late"), 10))
            check(False, "a WebSocket lesson opened after 21:00")
        except websockets.InvalidStatusCode as e:
            check(e.status_code == 451, "WebSocket after 21:00: %d, want 451" % e.status_code)
        o.assert_nothing_since(m2, what="lessons refused after 21:00")
        r = g.request("/small", None)
        check(r.status == 200 and r.header("Lessongate-Remaining") is None,
              "free routes work after 21:00: %r" % r)
        ev = g.log_events_until(lambda ev: any(e.get("event") == "forced_close" for e in ev) and
                                any(e.get("event") == "deny" and e.get("rule") == "day_end"
                                    for e in ev))
        fc = [e for e in ev if e.get("event") == "forced_close"]
        check(fc and fc[0].get("rule") == "day_end" and fc[0].get("student") == "stu-e",
              "forced_close event: %s" % fc)
        check([e for e in ev if e.get("event") == "deny" and e.get("rule") == "day_end"],
              "no deny rule=day_end event: %s" % ev)


test_enforce_websocket_closed_at_2100_with_4002.timeout = 40


def test_enforce_websocket_opened_2055_closed_at_2100(env):
    """Opened at 20:55 (x30: five fake minutes in ten real seconds), closed at 21:00 with 4002."""
    o = env.origin()
    with Gate(env, "2026-09-21 20:54:58", speed=30) as g:
        mark = o.mark()
        ws = WsWatch(g, g.token("stu-g"), "from2055", every=0.2, limit=40)
        check(wait_for(lambda: ws.opened or ws.error, 5), "the WebSocket did not open")
        check(ws.error is None, "WebSocket client: %r" % ws.error)
        rem = int(ws.headers.get("Lessongate-Remaining", "-1"))
        dl = rfc3339(ws.headers.get("Lessongate-Deadline"))
        g.clock.observe(dl - rem, ws.opened[0], ws.opened[1], "101")
        end = at("2026-09-21 21:00:00")
        check(dl == end and 290 <= rem <= 302, "opened at %s: deadline %s remaining %d" %
              (local(dl - rem), local(dl), rem))
        check(ws.join(25), "the WebSocket opened at 20:55 was not closed at 21:00")
        check(ws.error is None, "WebSocket client: %r" % ws.error)
        check(ws.code == 4002, "the client got Close %r, want 4002" % ws.code)
        closed = g.clock.at(ws.closed_at)
        tol = 1 + JITTER * g.speed + g.clock.error()
        check(abs(closed - end) <= tol, "closed %+.1f fake s from 21:00:00 (tolerance %.1f)" %
              (closed - end, tol))
        oc = wait_for(lambda: (lambda c: c if c and c["closed"] else None)(
            last_ws(o, mark, "from2055")), 3)
        check(oc is not None and oc["ws"]["close_code_in"] == 4002,
              "the origin got Close %r, want 4002" % (oc and oc["ws"]["close_code_in"]))


test_enforce_websocket_opened_2055_closed_at_2100.timeout = 45


# Origin endpoints on a lesson route: /lesson/.../NAME is answered as /NAME.
LESSON_ROUTES = ROUTES + [{"prefix": "/lesson/", "class": "subject"}]


def _lesson_download(g, target, token):
    """Send a lesson GET on a raw socket; (socket, response head bytes, first body bytes)."""
    s = socket.create_connection(("127.0.0.1", g.port), timeout=10)
    s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n\r\n" %
               (target, token)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        check(d, "the proxy closed before the response head: %r" % buf)
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    return s, head, body


def _read_until_close(socks, limit):
    """Read every socket at once until its peer closes (or limit real seconds); a list of
    (bytes, real time of the close or None), one per socket."""
    out = {s: [b"", None] for s in socks}
    end = time.monotonic() + limit
    while time.monotonic() < end:
        open_ = [s for s in socks if out[s][1] is None]
        if not open_:
            break
        ready, _, _ = select.select(open_, [], [], max(0.01, end - time.monotonic()))
        for s in ready:
            try:
                d = s.recv(1 << 20)
            except ConnectionResetError:
                d = b""
            if d:
                out[s][0] += d
            else:
                out[s][1] = time.time()
    return [tuple(out[s]) for s in socks]


def test_enforce_length_download_closed_at_2100(env):
    """A lesson download with Content-Length from 20:59:57 is lesson activity until it completes:
    it does not run on past 21:00 (the connection closes at 21:00 +- 1 s, event "connection
    closed"), and while it runs the status shows an open lesson tunnel."""
    with Gate(env, "2026-09-21 20:59:56", routes=LESSON_ROUTES) as g:
        tok = g.token("stu-dl")
        s, head, body = _lesson_download(
            g, "/lesson/video/stream?n=100000000&pause_after=1&pause=30", tok)
        with s:
            check(head.startswith(b"HTTP/1.1 200") and b"Content-Length: 100000000" in head,
                  "download head: %r" % head)
            st = g.request(STATUS_PATH, tok).json()
            check(st["lesson"]["tunnels"] == 1, "a download in flight is an open lesson "
                  "tunnel: %s" % st["lesson"])
            ((data, closed),) = _read_until_close([s], 10)
        check(closed is not None, "the download ran on past 21:00 (%d bytes)" % (len(data) + len(body)))
        end = at("2026-09-21 21:00:00")
        check(abs(g.clock.at(closed) - end) <= 1.0 + g.clock.error(),
              "closed %+.2f s from 21:00:00" % (g.clock.at(closed) - end))
        fc = [e for e in wait_for(lambda: [e for e in g.log_events()
                                           if e.get("event") == "forced_close"], 3) or []]
        check(fc and fc[0].get("rule") == "day_end" and fc[0].get("reason") == "connection closed"
              and fc[0].get("student") == "stu-dl", "forced_close event: %s" % fc)
        st = g.request(STATUS_PATH, tok).json()
        check(st["lesson"]["tunnels"] == 0, "the tunnel stayed open: %s" % st["lesson"])


def test_enforce_chunked_stream_without_boundary_closed_at_2100(env):
    """A chunked lesson stream stalled inside a chunk at 21:00 is closed about 2 s later (event
    "connection closed"); one that reaches a boundary ends with the last-chunk at 21:00 (event
    "stream ended at chunk boundary") and its connection stays usable."""
    with Gate(env, "2026-09-21 20:59:56", routes=LESSON_ROUTES) as g:
        tok = g.token("stu-ch")
        s, head, _ = _lesson_download(
            g, "/lesson/v1/stream?chunked=1&n=100000000&pause_after=1&mid=1&pause=30", tok)
        s2, head2, _ = _lesson_download(
            g, "/lesson/v2/stream?chunked=1&n=100000000&pause_after=1&pause=30", tok)
        with s, s2:
            check(b"chunked" in head and b"chunked" in head2, "heads: %r %r" % (head, head2))
            (data, closed), (data2, closed2) = _read_until_close([s, s2], 8)
            check(closed is not None, "a stream stalled inside a chunk was never ended")
            end = at("2026-09-21 21:00:00")
            late = g.clock.at(closed) - end
            check(1.0 <= late <= 3.5 + g.clock.error(),
                  "closed %+.2f s from 21:00:00, want about 2 s after" % late)
            # The other one ended cleanly at 21:00 with the last-chunk, and stays open.
            check(closed2 is None and data2.endswith(b"\r\n0\r\n\r\n"),
                  "the stream at a boundary did not end with the last-chunk: closed=%r %r" %
                  (closed2, data2[-20:]))
            s2.sendall(b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
            s2.settimeout(5)
            check(s2.recv(100).startswith(b"HTTP/1.1 200"), "the connection was not usable")
        fc = {e.get("path"): e for e in g.log_events_until(
            lambda ev: len({e.get("path") for e in ev if e.get("event") == "forced_close"}) >= 2)
            if e.get("event") == "forced_close"}
        check(fc.get("/lesson/v1/stream", {}).get("reason") == "connection closed" and
              fc.get("/lesson/v2/stream", {}).get("reason") == "stream ended at chunk boundary",
              "forced_close events: %s" % fc)


def test_enforce_2100_before_holiday_retry_after(env):
    """Thursday 2026-09-24 21:00: subject lessons come back on Monday 09-28 (中秋节 25-27),
    non-subject ones the next morning."""
    o = env.origin()
    with Gate(env, "2026-09-24 21:00:05") as g:
        mark = o.mark()
        tok = g.token("stu-h")
        _, retry_at, body = refused(g.request("/live/x", tok), 451, "day_end", "subject 21:00")
        check(retry_at == at("2026-09-28 00:00:00"), "subject retry_at %s, want 09-28 00:00" %
              local(retry_at))
        _, retry_at, _ = refused(g.request("/art/x", tok), 451, "day_end", "non-subject 21:00")
        check(retry_at == at("2026-09-25 00:00:00"), "non-subject retry_at %s, want 09-25" %
              local(retry_at))
        o.assert_nothing_since(mark)


# ---------------------------------------------------------------- days


def curl_get(g, path, token=None, accept=None):
    args = ["-i", "http://127.0.0.1:%d%s" % (g.port, path)]
    if token:
        args += ["-H", "Authorization: Bearer " + token]
    if accept:
        args += ["-H", "Accept: " + accept]
    rc, out, err = curl(*args)
    check(rc == 0, "curl %s: %s" % (path, err))
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:] if ":" in l]
    return Response(status, "", hdrs, body, "HTTP/1.1")


def test_enforce_holiday_subject_451_non_subject_allowed(env):
    """2026-10-01 (国庆节): subject 451 with Link and Retry-After to 10-08; non-subject works."""
    o = env.origin()
    with Gate(env, "2026-10-01 10:00:00") as g:
        mark = o.mark()
        tok = g.token("stu-i")
        r = curl_get(g, "/live/holiday", tok)
        _, retry_at, body = refused(r, 451, "blocked_day", "subject on 10-01")
        check(body.get("day", {}).get("kind") == "holiday" and
              body["day"].get("name") == "国庆节", "day in the 451 body: %s" % body.get("day"))
        check(retry_at == at("2026-10-08 00:00:00"), "retry_at %s, want 2026-10-08 00:00" %
              local(retry_at))
        check("blocked_day" == r.header("Lessongate-Rule"), "Lessongate-Rule %r" %
              r.header("Lessongate-Rule"))
        o.assert_nothing_since(mark, what="a subject lesson on a holiday")
        r = curl_get(g, "/art/holiday", tok)
        rem, dl = allowed(r, "non-subject on 10-01")
        check(rem == 1800, "non-subject remaining %d" % rem)
        check(seen(o, mark, "/art/holiday"), "the non-subject lesson did not reach the origin")
        r = curl_get(g, "/small")
        check(r.status == 200, "free route on a holiday: %r" % r)


def test_enforce_makeup_workday_and_plain_sunday(env):
    """Sunday 2026-09-20 is 国庆节调休 (a make-up workday): subject lessons work; the Sunday
    before, 09-13, is a rest day: 451 until Monday."""
    o = env.origin()
    with Gate(env, "2026-09-20 10:00:00") as g:
        mark = o.mark()
        r = g.request("/live/makeup", g.token("stu-j"))
        allowed(r, "subject lesson on the make-up workday 2026-09-20")
        check(seen(o, mark, "/live/makeup"), "the lesson did not reach the origin")
        s = g.request(STATUS_PATH, g.token("stu-j"))
        check(s.status == 200 and s.json().get("day", {}).get("kind") == "makeup_workday",
              "status on 09-20: %r" % s)
    with Gate(env, "2026-09-13 10:00:00") as g:
        mark = o.mark()
        r = g.request("/live/sunday", g.token("stu-j"))
        _, retry_at, body = refused(r, 451, "blocked_day", "subject on Sunday 09-13")
        check(body.get("day", {}).get("kind") == "rest_day", "day: %s" % body.get("day"))
        check(retry_at == at("2026-09-14 00:00:00"), "retry_at %s" % local(retry_at))
        o.assert_nothing_since(mark)


def test_enforce_vacation_blocks_only_its_region(env):
    """A vacation for 110000 (2026-09-21..23) blocks subject lessons of 11xxxx students only."""
    o = env.origin()
    with Gate(env, "2026-09-22 10:00:00", vacations=True) as g:
        mark = o.mark()
        bj = g.token("stu-bj", "110105")
        r = g.request("/live/vac-bj", bj)
        _, retry_at, body = refused(r, 451, "blocked_day", "Beijing student in vacation")
        check(body.get("day", {}).get("kind") == "vacation", "day: %s" % body.get("day"))
        check(retry_at == at("2026-09-24 00:00:00"), "retry_at %s, want 09-24" % local(retry_at))
        o.assert_nothing_since(mark)
        allowed(g.request("/art/vac-bj", bj), "non-subject lesson in a vacation")
        allowed(g.request("/live/vac-dh", g.token("stu-dh", "533102")), "Dehong student")
        allowed(g.request("/live/vac-none", g.token("stu-none")), "no region (default 533100)")
        allowed(g.request("/live/vac-yn", g.token("stu-km", "530102")), "Kunming student")
        got = origin_targets(o, mark)
        check("/live/vac-bj" not in got and {"/art/vac-bj", "/live/vac-dh", "/live/vac-none",
                                             "/live/vac-yn"} <= set(got),
              "what the origin received: %s" % got)


# ---------------------------------------------------------------- one student, many devices


def test_enforce_two_devices_share_one_clock(env):
    """Six connections (workers = 2) of one student: one lesson, one deadline; a WebSocket
    from another device joins the same lesson."""
    with Gate(env, "2026-09-21 10:00:00", speed=60, workers=2) as g:
        tok = g.token("stu-two")
        conns = [HttpConn(g.port, timeout=10) for _ in range(6)]
        try:
            rs = time.time()
            r = conns[0].request("GET", "/live/dev0", headers=bearer(tok))
            g.learn(r, rs, time.time())
            rem0, deadline = allowed(r, "device 0")
            check(rem0 == 1800, "device 0 remaining %d" % rem0)
            g.clock.sleep(180)
            for i, c in enumerate(conns[1:], 1):
                rs = time.time()
                r = c.request("GET", "/live/dev%d" % i, headers=bearer(tok))
                g.learn(r, rs, time.time())
                rem, dl = allowed(r, "device %d" % i)
                check(dl == deadline, "device %d has its own lesson clock: deadline %s, device "
                      "0 has %s" % (i, local(dl), local(deadline)))
                check(rem < 1800 - 150, "device %d: remaining %d after 3 minutes" % (i, rem))
            ports = {c.s.getsockname()[1] for c in conns}
            check(len(ports) == 6, "six distinct connections")
        finally:
            for c in conns:
                c.close()

        async def go():
            async with ws_connect(g, tok, "/ws?tag=dev-ws") as ws:
                h = ws.response_headers
                await ws.close()
                return h

        h = asyncio.run(asyncio.wait_for(go(), 10))
        check(rfc3339(h.get("Lessongate-Deadline")) == deadline,
              "a WebSocket from another device got deadline %s, the lesson's is %s" %
              (h.get("Lessongate-Deadline"), local(deadline)))


test_enforce_two_devices_share_one_clock.timeout = 30


# ---------------------------------------------------------------- identity


def test_enforce_bad_tokens_401_origin_untouched(env):
    """RS256 pinned: forged, foreign-key, expired, not-yet-valid, alg none, HS256 signed
    with the RSA public key, wrong issuer, garbage and missing tokens are 401 and the origin
    receives nothing; good tokens in the header, the cookie and the query work."""
    o = env.origin()
    with Gate(env, "2026-09-21 10:00:00", jwt="rs256") as g:
        k = g.keys
        now = g.start
        good = g.rs_token("stu-k", "533100")
        h, p, s = good.split(".")
        forged_claims = b64u(jdump(claims("stu-other", now, "533100")))
        bad = {
            "forged payload": "%s.%s.%s" % (h, forged_claims, s),
            "flipped signature": "%s.%s.%s" % (h, p, s[:-4] + ("AAAA" if s[-4:] != "AAAA"
                                                                else "BBBB")),
            "foreign key": k.rs256(claims("stu-k", now), key=k.other),
            "expired": k.rs256(claims("stu-k", now, life=-3600)),
            "not yet valid": k.rs256(claims("stu-k", now, nbf=now + 3600)),
            "alg none": "%s.%s." % (b64u(jdump({"alg": "none", "typ": "JWT"})),
                                    b64u(jdump(claims("stu-k", now)))),
            "alg none, RS256 signature kept": "%s.%s.%s" % (
                b64u(jdump({"alg": "none", "typ": "JWT"})), p, s),
            "HS256 with the RSA public key": k.hs256(claims("stu-k", now),
                                                     secret=k.rsa_pub_bytes),
            "HS256 with the RSA public key and a kid": k.hs256(
                claims("stu-k", now), secret=k.rsa_pub_bytes,
                header={"alg": "HS256", "typ": "JWT", "kid": "x"}),
            "wrong issuer": k.rs256(claims("stu-k", now, iss="https://evil.test")),
            "no exp": k.rs256({"sub": "stu-k", "iss": ISSUER}),
            "garbage": "not-a-token",
        }
        mark = o.mark()
        for what, tok in bad.items():
            unauthorized(g.request("/live/tok", tok), what)
        unauthorized(g.request("/live/tok", None), "no token")
        unauthorized(g.request("/live/tok", None, [("Authorization", "Basic dXNlcjpwYXNz")]),
                     "Basic credentials")
        unauthorized(g.request("/live/tok", None, [("Cookie", "lg_token=" + bad["alg none"])]),
                     "alg none in the cookie")
        unauthorized(g.request("/live/tok?access_token=" + bad["expired"], None),
                     "expired in the query")
        try:
            asyncio.run(asyncio.wait_for(_ws_open_status(g, bad["forged payload"],
                                                         "/ws?tag=forged"), 10))
            check(False, "a WebSocket lesson opened with a forged token")
        except websockets.InvalidStatusCode as e:
            check(e.status_code == 401, "forged WebSocket: %d" % e.status_code)
        o.assert_nothing_since(mark, what="requests with bad tokens")
        # Any client can cause these: counted, one aggregated line per interval (10 s).
        n = g.aggregated_count("unidentified", len(bad) + 4)
        check(n >= len(bad) + 4, "unidentified requests counted: %d of %d" % (n, len(bad) + 4))
        log = g.log_text()
        check(good not in log and bad["forged payload"] not in log, "tokens must not be logged")

        allowed(g.request("/live/tok-header", good), "a good token in the header")
        allowed(g.request("/live/tok-cookie", None, [("Cookie", "a=b; lg_token=" + good)]),
                "a good token in the cookie")
        allowed(g.request("/live/tok-query?access_token=" + good, None), "in the query")

        async def ws_query():
            async with websockets.connect(ws_url(g, "/ws?tag=q&access_token=" + good),
                                          open_timeout=5, close_timeout=3,
                                          ping_interval=None) as ws:
                await ws.send("hi")
                check(await ws.recv() == "hi", "echo over a query-token WebSocket")
                return ws.response_headers

        h2 = asyncio.run(asyncio.wait_for(ws_query(), 10))
        check(h2.get("Lessongate-Deadline"), "WebSocket with a query token: %s" % h2)
        got = origin_targets(o, mark)
        check(len([t for t in got if t.startswith("/live/tok-")]) == 3, "origin got %s" % got)


test_enforce_bad_tokens_401_origin_untouched.timeout = 45


def test_enforce_identity_header_only_from_trusted_peers(env):
    """X-Student-Id from 127.0.0.1 when trusted_peers excludes it: ignored (401 on lessons)
    and removed before forwarding; when trusted_peers includes 127.0.0.1 it identifies."""
    o = env.origin()
    with Gate(env, "2026-09-21 10:00:00", jwt=None, header=["10.0.0.0/8", "::1/128"]) as g:
        mark = o.mark()
        hdr = [("X-Student-Id", "stu-spoof")]
        r = g.request("/live/hdr", None, hdr)
        check(r.status == 401, "an untrusted identity header was honoured: %r" % r)
        o.assert_nothing_since(mark)
        r = g.request("/echo", None, hdr + [("X-Other", "kept")])
        check(r.status == 200, "free route: %r" % r)
        fwd = {k.lower(): v for k, v in r.json()["headers"]}
        check("x-student-id" not in fwd, "the untrusted identity header was forwarded: %s" % fwd)
        check(fwd.get("x-other") == "kept", "other headers are forwarded: %s" % fwd)
    with Gate(env, "2026-09-21 10:00:00", jwt=None, header=["127.0.0.1/32"]) as g:
        mark = o.mark()
        allowed(g.request("/live/hdr-ok", None, [("X-Student-Id", "stu-trusted")]),
                "identity header from a trusted peer")
        check(seen(o, mark, "/live/hdr-ok"), "the trusted lesson did not reach the origin")
        m2 = o.mark()
        check(g.request("/live/hdr-none", None).status == 401, "no identity header: 401")
        r = g.request("/live/hdr-two", None, [("X-Student-Id", "a"), ("X-Student-Id", "b")])
        check(r.status == 401, "two identity headers: %r" % r)
        o.assert_nothing_since(m2)


# ---------------------------------------------------------------- paths


def test_enforce_path_tricks(env):
    """The path is classified as the platform sees it (normalised and forwarded so), or 400."""
    o = env.origin()
    with Gate(env, "2026-09-21 10:00:00") as g:
        tok = g.token("stu-p")
        same = {  # request target -> what the origin must receive
            "/live/../live/x1": "/live/x1",
            "/%6Cive/x2": "/live/x2",
            "//live/x3": "/live/x3",
            "/live//./x4": "/live/x4",
            "/free/../live/x5": "/live/x5",
            "/%6c%69%76%65/x6?q=%2F%20": "/live/x6?q=%2F%20",
            "/art/%2e%2e/live/x7": "/live/x7",
        }
        for target, want in same.items():
            mark = o.mark()
            r = g.request(target, None)
            unauthorized(r, "%s without a token (a lesson route in disguise)" % target)
            o.assert_nothing_since(mark, settle=0.05, what=target)
            mark = o.mark()
            r = g.request(target, tok)
            allowed(r, target)
            got = origin_targets(o, mark)
            check(got == [want], "%s: the origin received %s, want %s" % (target, got, want))
        for target in ("/live%2Fx", "/live%2fx", "/live\\x", "/live%5Cx", "/live/x%00",
                       "/live/../../x", "/live/%2e%2e/%2e%2e/x", "/live/..;/x", "/live/%C0%AE"):
            mark = o.mark()
            r = g.request(target, tok)
            check(r.status == 400, "%r must be refused with 400, got %r" % (target, r))
            o.assert_nothing_since(mark, settle=0.05, what=target)
        mark = o.mark()
        r = g.request("/%65cho/../echo", None)
        check(r.status == 200 and r.json()["target"] == "/echo", "a free route, normalised: %r" %
              r)


# ---------------------------------------------------------------- status and warnings


def sse_events(g, token, until, timeout):
    """Read the SSE status stream: [(event, data, real time)] until event `until` or timeout."""
    out = []
    c = HttpConn(g.port, timeout=timeout)
    try:
        c.send("GET %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n%s\r\n" %
               (STATUS_PATH, token, "".join("%s: %s\r\n" % kv for kv in SSE_HEADERS)))
        status, _, headers, _ = c.read_head()
        h = {k.lower(): v for k, v in headers}
        check(status == 200, "SSE status: %d %s" % (status, headers))
        check(h.get("content-type", "").startswith("text/event-stream"),
              "SSE Content-Type: %s" % h.get("content-type"))
        chunked = h.get("transfer-encoding", "").lower() == "chunked"
        buf = b""
        end = time.monotonic() + timeout
        ev = {"event": "message", "data": []}
        while time.monotonic() < end:
            try:
                if chunked:
                    size = int(c._line().split(b";")[0], 16)
                    if size == 0:
                        break
                    buf += c._exact(size)
                    c._exact(2)
                else:
                    c._fill()
                    buf += bytes(c.buf)
                    c.buf.clear()
            except ConnClosed:
                break
            while b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                line = line.rstrip(b"\r").decode("utf-8", "replace")
                if line == "":
                    if ev["data"] or ev["event"] != "message":
                        out.append((ev["event"], "\n".join(ev["data"]), time.time()))
                        if ev["event"] == until:
                            return out
                    ev = {"event": "message", "data": []}
                elif line.startswith(":"):
                    continue
                else:
                    k, _, v = line.partition(":")
                    v = v[1:] if v.startswith(" ") else v
                    if k == "event":
                        ev["event"] = v
                    elif k == "data":
                        ev["data"].append(v)
        return out
    finally:
        c.close()


def test_enforce_status_json_and_sse_warnings(env):
    """The status document; its SSE form warns at warn_before and one minute before the
    deadline, then says `ended` (lesson_max 3m, warn_before 2m, x20)."""
    o = env.origin()
    rules = {"subject": {"lesson_max": "3m"}, "non_subject": {"lesson_max": "3m"},
             "warn_before": "2m"}
    with Gate(env, "2026-09-21 10:00:00", speed=20, rules=rules) as g:
        mark = o.mark()
        tok = g.token("stu-s", "533102")
        r = g.request(STATUS_PATH, None)
        check(r.status == 401, "status without identity: %r" % r)
        r = g.request(STATUS_PATH, tok)
        check(r.status == 200 and (r.header("Content-Type") or "").startswith("application/json"),
              "status: %r %s" % (r, r.headers))
        s = r.json()
        check(s.get("student") == "stu-s" and s.get("region") == "533102", "status: %s" % s)
        check(s.get("day", {}).get("kind") == "workday", "day: %s" % s.get("day"))
        check(s.get("lesson", {}).get("active") is False, "no lesson yet: %s" % s.get("lesson"))
        check(s.get("warn_before") == 120, "warn_before: %s" % s.get("warn_before"))
        sub = s.get("classes", {}).get("subject", {})
        check(sub.get("allowed") is True and sub.get("lesson_max") == 180 and
              sub.get("remaining") == 180 and sub.get("day_end") == "21:00",
              "subject in the status: %s" % sub)
        check(abs(rfc3339(s["time"]) - g.clock.now()) <= 2 + g.clock.error() + 0.1 * g.speed,
              "status time %s, fake now %s" % (s["time"], local(g.clock.now())))

        rem, deadline = allowed(g.request("/live/status-lesson", tok), "the lesson")
        check(rem == 180, "lesson_max 3m: remaining %d" % rem)
        s = g.request(STATUS_PATH, tok).json()
        check(s["lesson"].get("active") is True and
              rfc3339(s["classes"]["subject"]["deadline"]) == deadline,
              "status during the lesson: %s" % s)
        check(rfc3339(s["lesson"]["start"]) == deadline - 180, "lesson start: %s" % s["lesson"])
        # The status endpoint is answered by the proxy: the origin saw only the lesson.
        check(origin_targets(o, mark) == ["/live/status-lesson"],
              "the origin received %s" % origin_targets(o, mark))

        events = sse_events(g, tok, "ended", timeout=(deadline - g.clock.now() + 20) / g.speed)
        names = [e[0] for e in events]
        warn = [e for e in events if e[0] == "warning"]
        ended = [e for e in events if e[0] == "ended"]
        check(len(warn) == 2 and len(ended) == 1, "SSE events: %s" % [(e[0], e[1][:80])
                                                                     for e in events])
        tol = 1 + JITTER * g.speed + g.clock.error()
        for (name, data, rt), want in zip(warn + ended, (deadline - 120, deadline - 60,
                                                         deadline)):
            got = g.clock.at(rt)
            check(abs(got - want) <= tol, "%s event at %s%+.1f s, want %s (tolerance %.1f)" %
                  (name, local(want), got - want, local(want), tol))
        for name, data, _ in warn:
            try:
                d = json.loads(data)
            except ValueError:
                raise TestFailure("warning data is not JSON: %r" % data)
            check(isinstance(d, dict) and "remaining" in d, "warning data: %s" % d)
        note("SSE events: %s" % names)
        r = g.request("/live/status-after", tok)
        refused(r, 429, "lesson_limit", "after the 3-minute lesson")
        s = g.request(STATUS_PATH, tok).json()
        check(s["classes"]["subject"].get("allowed") is False and
              s["classes"]["subject"].get("rule") == "lesson_limit", "status after: %s" % s)


test_enforce_status_json_and_sse_warnings.timeout = 40


# ---------------------------------------------------------------- reloads


def test_enforce_reload_reaches_keepalive_connection(env):
    """A reload reaches every connection from its next request on: on one keep-alive connection,
    a path that was free becomes a lesson route (401 without a token) and a revoked HS256 key no
    longer identifies the student (401); neither request reaches the origin."""
    o = env.origin()
    with Gate(env, "2026-09-21 10:00:00") as g:
        tok = g.token("stu-rl")
        with HttpConn(g.port, timeout=10) as c:
            r = c.request("GET", "/newlesson/x")
            check(r.status == 404 and r.body == b"not found\n",
                  "a free route before the reload reaches the origin (its 404): %r" % r)
            allowed(c.request("GET", "/live/a", headers=bearer(tok)), "a lesson before the reload")
            rotated = os.path.join(env.dir, "rotated.secret")
            with open(rotated, "wb") as f:
                f.write(b64u(os.urandom(36)).encode())
            with open(g.d.conf) as f:
                text = f.read()
            route = '{ prefix = "/live/"; class = "subject"; }'
            check(route in text and g.keys.secret_file in text, "config: %s" % text)
            text = text.replace(route, route + ', { prefix = "/newlesson/"; class = "subject"; }')
            text = text.replace(g.keys.secret_file, rotated)
            g.d.rewrite(text)
            g.d.hup()
            check(wait_for(lambda: "configuration reloaded" in g.d.tail(4000), 5), "no reload")
            mark = o.mark()
            unauthorized(c.request("GET", "/newlesson/x"), "a route added by the reload")
            unauthorized(c.request("GET", "/live/a", headers=bearer(tok)),
                         "a token signed with the revoked key")
            o.assert_nothing_since(mark, what="requests refused under the new configuration")


# ---------------------------------------------------------------- monitor mode


def test_enforce_monitor_mode_refuses_nothing(env):
    """mode = "monitor" on a holiday: the lesson is forwarded with Lessongate-Violation, and a
    deny event with enforced=false is recorded."""
    o = env.origin()
    with Gate(env, "2026-10-01 10:00:00", mode="monitor") as g:
        mark = o.mark()
        r = g.request("/live/monitored", g.token("stu-m"))
        check(r.status not in (401, 429, 451), "monitor mode refused: %r" % r)
        check(r.header("Lessongate-Violation") == "blocked_day",
              "Lessongate-Violation: %r (%s)" % (r.header("Lessongate-Violation"), r.headers))
        check(seen(o, mark, "/live/monitored"), "the monitored lesson did not reach the origin")
        ev = [e for e in g.log_events_until(lambda ev: any(e.get("event") == "deny" for e in ev))
              if e.get("event") == "deny"]
        check(ev and ev[-1].get("rule") == "blocked_day" and ev[-1].get("enforced") == "false",
              "deny events: %s" % ev)
        s = g.request(STATUS_PATH, g.token("stu-m")).json()
        check(s.get("mode") == "monitor", "status mode: %s" % s.get("mode"))


def test_enforce_monitor_rollout_leaves_no_phantom_tunnel(env):
    """The rollout step monitor -> enforce (SIGHUP): a WebSocket lesson allowed only because of
    monitor mode (07:5x, before day_start, no lesson yet) counts as an open tunnel while open and
    not after it closes; after the reload the student's lessons follow the rules (an 11-minute
    pause is a break, so the next request starts a new lesson instead of a never-ending one)."""
    rules = {"subject": {"day_start": "08:00"}}
    with Gate(env, "2026-09-21 07:57:00", speed=60, mode="monitor", rules=rules) as g:
        tok = g.token("stu-roll")

        async def open_close():
            async with ws_connect(g, tok, "/ws?tag=rollout") as ws:
                headers = ws.response_headers
                during = g.request(STATUS_PATH, tok).json()["lesson"]["tunnels"]
                await ws.close()
            return headers, during

        headers, during = asyncio.run(asyncio.wait_for(open_close(), 10))
        check(headers.get("Lessongate-Violation") == "day_start",
              "the WebSocket should be a monitored day_start violation: %s" % headers)
        check(during == 1, "an open monitored WebSocket is one tunnel, status said %d" % during)
        after = wait_for(lambda: g.request(STATUS_PATH, tok).json()["lesson"]["tunnels"] == 0, 3)
        check(after, "the closed monitored WebSocket left a phantom tunnel: %s" %
              g.request(STATUS_PATH, tok).json()["lesson"])
        with open(g.d.conf) as f:
            text = f.read()
        check('mode = "monitor";' in text, "config: %s" % text)
        g.d.rewrite(text.replace('mode = "monitor";', 'mode = "enforce";'))
        g.d.hup()
        check(wait_for(lambda: "configuration reloaded" in g.d.tail(4000), 5), "no reload")
        g.clock.sleep_until(at("2026-09-21 08:00:05"))
        rem, dl = allowed(g.request("/live/a", tok), "the first lesson after the rollout")
        check(rem == 1800, "a new lesson after the rollout has %d s left" % rem)
        g.clock.sleep(660)  # 11 minutes without lesson activity: a break
        rem2, dl2 = allowed(g.request("/live/b", tok), "a lesson after an 11-minute break")
        check(rem2 == 1800 and dl2 > dl, "after an 11-minute pause the lesson went on (deadline "
              "%s -> %s, %d s left): a phantom tunnel kept it active" %
              (local(dl), local(dl2), rem2))
        st = g.request(STATUS_PATH, tok).json()
        check(st["mode"] == "enforce" and st["lesson"]["tunnels"] == 0, "status: %s" % st)


test_enforce_monitor_rollout_leaves_no_phantom_tunnel.timeout = 40


def test_enforce_whole_late_response_is_activity_until_it_ended(env):
    """A lesson response that arrives whole in one read 2.5 s after its request was decided is
    lesson activity until it ended: the status's lesson.last is its end, not the decision. (Such
    a response takes no lease; its end is recorded when the exchange finishes.)"""
    with Gate(env, "2026-09-21 10:00:00", routes=LESSON_ROUTES) as g:
        tok = g.token("stu-late")
        allowed(g.request("/lesson/a/slow?delay=2.5", tok), "a lesson answered after 2.5 s")
        s = g.request(STATUS_PATH, tok).json()["lesson"]
        span = rfc3339(s["last"]) - rfc3339(s["start"])
        check(2 <= span <= 4, "the lesson's last activity is %d s after its start for a "
              "response that ended 2.5 s after it: %s" % (span, s))
        check(s["tunnels"] == 0, "a finished response still holds a tunnel: %s" % s)
        # A quick one right after: no lease either, and the activity moves on to it.
        time.sleep(1.2)
        allowed(g.request("/lesson/a/small", tok), "a quick lesson response")
        s2 = g.request(STATUS_PATH, tok).json()["lesson"]
        check(s2["start"] == s["start"] and rfc3339(s2["last"]) >= rfc3339(s["last"]) + 1,
              "after a second request 1.2 s later: %s (before: %s)" % (s2, s))


def test_enforce_monitored_violation_response_is_activity(env):
    """Monitor mode: a lesson response forwarded as a monitored violation (day_end at 21:00:30)
    is lesson activity until it ended, although it arrived whole in one read and the decision
    that let it through recorded nothing: the lesson's last activity moves to it."""
    with Gate(env, "2026-09-21 20:59:50", speed=10, mode="monitor") as g:
        tok = g.token("stu-monact")
        allowed(g.request("/live/a", tok), "a lesson at 20:59:50")
        s = g.request(STATUS_PATH, tok).json()["lesson"]
        g.clock.sleep_until(at("2026-09-21 21:00:30"))
        r = g.request("/live/b", tok)
        check(r.status not in (401, 429, 451) and r.header("Lessongate-Violation") == "day_end",
              "at 21:00:30 in monitor mode: %r %s" % (r, r.headers))
        s2 = g.request(STATUS_PATH, tok).json()["lesson"]
        check(s2["start"] == s["start"] and rfc3339(s2["last"]) >= at("2026-09-21 21:00:29"),
              "the monitored violation's response is not the lesson's last activity: %s "
              "(before it: %s)" % (s2, s))
