"""The shared Redis store (issue 8): several lessongated with one real redis-server.

"Exactly at 30 minutes": every allowed answer (on either gateway) carries the same
deadline, start + 1800 s of the shared start, and the deciding gateway allows before it
and refuses from it on, by its own clock.

Each test starts its own redis-server (Debian's, `redis-server` on PATH) on a free
loopback port with a temp dir and no persistence; no system service is used. The
daemons run under libfaketime like test_enforce.py (the Gate class): two daemons
started a moment apart have clocks a fraction of a fake second apart, which is why
the 30-minute checks compare deadlines and refusals against the shared lesson start
that both daemons report.
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from harness import ConnClosed, HttpConn, Skip, check, free_port, note
from test_enforce import (JITTER, Gate, HandshakeHead, WsWatch, allowed, local, origin_targets,
                          refused)

# libfaketime speeds up the monotonic clock too: at x120 a 200 ms store timeout would be
# 1.7 real ms. Sped-up daemons get the longest timeout (60 fake s = 0.5 real s at x120).
SPED = "60s"

ROUTES = [
    {"prefix": "/live/", "class": "subject"},
    {"path": "/ws", "class": "subject"},
]


class Redis:
    """A private redis-server on 127.0.0.1:port (killed, paused and restarted by tests)."""

    def __init__(self, env, name="redis", args=()):
        self.args = list(args)
        self.auth = None  # (user, password) for cmd(), once the server wants one
        self.bin = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
        if self.bin is None:
            raise Skip("redis-server is not installed (scripts/deps installs it)")
        self.port = free_port()
        self.dir = os.path.join(env.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        try:
            self.start()
        except BaseException:
            self.close()  # never leave a server behind when the start check fails
            raise

    def start(self):
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [self.bin, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"] + self.args,
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                if self.cmd("PING") == "PONG":
                    return
            except OSError:
                pass
            except RuntimeError as e:  # a password is wanted: it is up
                if "NOAUTH" in str(e) or "WRONGPASS" in str(e):
                    return
                raise
            time.sleep(0.05)
        raise AssertionError("redis-server did not start on port %d" % self.port)

    def cmd(self, *args, timeout=2, db=0):
        """One command over RESP (after AUTH and SELECT db); its reply as str/int/list."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            f = s.makefile("rb")
            pre = ([("AUTH",) + self.auth] if self.auth else []) + ([("SELECT", db)] if db else [])
            for c in pre + [args]:
                out = b"*%d\r\n" % len(c)
                for a in c:
                    a = str(a).encode()
                    out += b"$%d\r\n%s\r\n" % (len(a), a)
                s.sendall(out)
                r = self._read(f)
            return r

    def _read(self, f):
        line = f.readline().rstrip(b"\r\n")
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)[:-2]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read(f) for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    @contextlib.contextmanager
    def paused(self):
        """redis-server stopped (SIGSTOP) for the with block, then continued."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.proc.pid, signal.SIGCONT)

    def close(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.kill()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def state(r, timeout="200ms"):
    return {"store": "redis", "redis": {"address": "127.0.0.1:%d" % r.port, "timeout": timeout}}


def wait_ready(g, tok, limit=10):
    """Until a lesson request is answered by the store (not 503)."""
    end = time.monotonic() + limit
    while True:
        r = g.request("/live/ready", tok)
        if r.status != 503 or time.monotonic() > end:
            return r
        time.sleep(0.1)


def test_redis_two_instances_refused_at_30_minutes(env):
    """A student alternating between two gateways with one Redis: one lesson clock, the
    same deadline on both, refused at start + 30 minutes whichever gateway is asked."""
    env.origin()
    with Redis(env) as rd, \
            Gate(env, "2026-09-21 10:00:00", speed=120, state=state(rd, SPED), name="a") as a, \
            Gate(env, "2026-09-21 10:00:00", speed=120, state=state(rd, SPED), name="b") as b:
        tok = a.token("stu-alt", "533100")
        wait_ready(a, a.token("warm-a"))
        wait_ready(b, b.token("warm-b"))
        r = a.request("/live/first", tok)
        rem, deadline = allowed(r, "first request, on A")
        check(rem == 1800, "a new lesson has 1800 s, got %d" % rem)
        start = deadline - 1800
        check(rd.cmd("EXISTS", "lessongate:{stu-alt}") == 1,
              "the student's key lessongate:{stu-alt} is not in Redis: %s" % rd.cmd("KEYS", "*"))
        gates = [b, a]
        i, last_ok = 0, start
        while True:
            a.clock.sleep(60)
            g = gates[i % 2]
            r = g.request("/live/x?n=%d" % i, tok)
            i += 1
            if r.status == 429:
                break
            rem, dl = allowed(r, "request %d on %s" % (i, "AB"[i % 2]))
            check(dl == deadline, "the deadline moved from %s to %s on %s" %
                  (local(deadline), local(dl), "BA"[i % 2]))
            last_ok = dl - rem
            check(i < 40, "no 429 after %d requests (deadline %s)" % (i, local(deadline)))
        ra, retry_at, body = refused(r, 429, "lesson_limit", "after 30 minutes")
        refused_at = retry_at - ra
        check(last_ok < deadline <= refused_at,
              "the last allowed request at %s, the refusal at %s, deadline %s" %
              (local(last_ok), local(refused_at), local(deadline)))
        check(refused_at - deadline <= 60 + JITTER * 120 + 2,
              "refused %d s after the deadline" % (refused_at - deadline))
        # The break is counted from the last activity. Each daemon's fake clock starts when
        # its process does, so at x120 the two disagree by a few fake seconds: the stored
        # last activity may come from the gateway whose clock is ahead.
        skew = abs(a.clock.now() - b.clock.now()) + a.clock.error() + b.clock.error() + 1
        check(last_ok <= retry_at - 600 <= last_ok + skew,
              "retry_at %s, want the last activity %s + 600 s (clock skew %.1f s)" %
              (local(retry_at), local(last_ok), skew))
        # The other gateway refuses too: the clock is shared.
        other = gates[i % 2]
        other.clock.sleep_until(deadline + 1 + other.clock.error())  # its clock may lag
        r2 = other.request("/live/x?other", tok)
        refused(r2, 429, "lesson_limit", "the other gateway right after")
        note("refused %d fake s after the deadline, %d requests" % (refused_at - deadline, i))


test_redis_two_instances_refused_at_30_minutes.timeout = 60


def test_redis_websocket_on_a_closed_at_deadline_requests_on_b(env):
    """A WebSocket lesson on gateway A is closed with 4001 at its deadline while the
    student's requests go to gateway B (same start, same deadline; B cannot start a new
    lesson while A's tunnel holds its lease)."""
    env.origin()
    with Redis(env) as rd, \
            Gate(env, "2026-09-21 10:00:00", speed=120, state=state(rd, SPED), name="a") as a, \
            Gate(env, "2026-09-21 10:00:00", speed=120, state=state(rd, SPED), name="b") as b:
        tok = a.token("stu-ws2", "533100")
        wait_ready(a, a.token("warm-a"))
        wait_ready(b, b.token("warm-b"))
        ws = WsWatch(a, tok, "redis4001", every=0.25, limit=40)
        check(wait_for_open(ws, 10), "the WebSocket on A did not open: %r" % ws.error)
        rem_ws, dl_ws = allowed(HandshakeHead(ws.headers), "WebSocket 101 on A")
        a.clock.observe(dl_ws - rem_ws, ws.opened[0], ws.opened[1], "101")
        check(rem_ws == 1800, "the WebSocket lesson had %d s, want 1800" % rem_ws)
        n = 0
        while ws.closed_at is None and n < 60:
            r = b.request("/live/b?n=%d" % n, tok)
            n += 1
            if r.status == 429:
                break
            rem, dl = allowed(r, "request %d on B" % n)
            check(dl == dl_ws, "B's deadline %s is not A's %s" % (local(dl), local(dl_ws)))
            b.clock.sleep(45)
        check(ws.join(15), "the WebSocket on A was not closed at its deadline")
        check(ws.code == 4001, "A's WebSocket got Close %r %r, want 4001" % (ws.code, ws.reason))
        closed = a.clock.at(ws.closed_at)
        tol = 1 + JITTER * a.speed + a.clock.error()
        check(abs(closed - dl_ws) <= tol, "A's WebSocket closed %.1f fake s from the deadline "
              "%s (tolerance %.1f)" % (closed - dl_ws, local(dl_ws), tol))
        check(n > 20, "only %d requests went to B" % n)
        # B's fake clock may lag A's by a few seconds (each starts with its process).
        b.clock.sleep_until(dl_ws + 1 + b.clock.error())
        r = b.request("/live/after", tok)
        refused(r, 429, "lesson_limit", "B after the deadline")
        note("A's WebSocket closed %.1f fake s from the deadline; %d requests on B" %
             (closed - dl_ws, n))


test_redis_websocket_on_a_closed_at_deadline_requests_on_b.timeout = 60


def script_calls(rd):
    """EVALSHA and EVAL calls Redis has run since its last CONFIG RESETSTAT."""
    n = 0
    for line in rd.cmd("INFO", "commandstats").split("\n"):
        m = re.match(r"cmdstat_(evalsha|eval):calls=(\d+)", line.strip())
        if m:
            n += int(m.group(2))
    return n


def test_redis_one_script_per_lesson_request(env):
    """A lesson request whose response ends at once costs Redis one script call (the decision):
    no lease is written for it. On the real clock: a response that ends in a later second than
    its decision is recorded with a lease opened and closed (2 calls more), which the few
    milliseconds from decision to end make rare (at x120 a fake second is 8 ms, and a third of
    the requests would cross one)."""
    env.origin()
    with Redis(env) as rd, Gate(env, "2026-09-21 10:00:00", state=state(rd), name="l") as g:
        tok = g.token("stu-calls", "533100")
        allowed(wait_ready(g, tok), "warm-up")
        rd.cmd("CONFIG", "RESETSTAT")
        n = 40
        for i in range(n):
            allowed(g.request("/live/c?n=%d" % i, tok), "request %d" % i)
        calls = script_calls(rd)
        check(n <= calls <= n + 4, "%d lesson requests cost %d script calls in Redis "
              "(want one each, two more for the rare one that crosses a second)" % (n, calls))
        key = "lessongate:{stu-calls}"
        leases = [f for f in (rd.cmd("HKEYS", key) or []) if f.startswith("l:")]
        check(leases == [], "a finished response left a lease: %r" % leases)
        note("%d requests, %d script calls" % (n, calls))


def test_redis_lease_written_at_renewal(env):
    """A lesson tunnel's lease is opened in Redis only if it is still open at the holder's first
    renewal: a WebSocket lesson's lease shows in the student's key within 10 s and is removed
    when it closes."""
    env.origin()
    with Redis(env) as rd, \
            Gate(env, "2026-09-21 10:00:00", speed=120, state=state(rd, SPED), name="l") as g:
        tok = g.token("stu-calls", "533100")
        allowed(wait_ready(g, tok), "warm-up")
        key = "lessongate:{stu-calls}"
        leases = lambda: [f for f in (rd.cmd("HKEYS", key) or []) if f.startswith("l:")]
        check(leases() == [], "a finished response left a lease: %r" % leases())
        ws = WsWatch(g, tok, "lease", every=0.1, limit=3)  # the client leaves after 3 s
        check(wait_for_open(ws, 10), "the WebSocket did not open: %r" % ws.error)
        end = time.monotonic() + 5
        while not leases() and time.monotonic() < end:
            time.sleep(0.02)
        held = leases()
        check(len(held) == 1, "no lease in Redis while the WebSocket is open: %r" % held)
        ttl = int(rd.cmd("HGET", key, held[0])) - g.clock.now()
        check(0 < ttl <= 31 + g.clock.error(), "the lease expires %d s on" % ttl)
        check(ws.join(10), "the WebSocket client did not leave")
        end = time.monotonic() + 5
        while leases() and time.monotonic() < end:
            time.sleep(0.02)
        check(leases() == [], "the lease stayed after the WebSocket closed: %r" % leases())


test_redis_one_script_per_lesson_request.timeout = 40
test_redis_lease_written_at_renewal.timeout = 40


def wait_for_open(ws, limit):
    end = time.monotonic() + limit
    while ws.opened is None and ws.error is None and time.monotonic() < end:
        time.sleep(0.05)
    return ws.opened is not None


def status_lines(ns, want, timeout=5):
    """The systemd STATUS= lines seen so far, waiting (up to timeout) for one containing want."""
    end = time.monotonic() + timeout
    while True:
        lines = [l for m in ns.msgs for l in m.split("\n") if l.startswith("STATUS=")]
        if any(want in l for l in lines) or time.monotonic() > end:
            return lines
        ns.wait_for("-", timeout=0.2)


def test_redis_killed_503_free_fine_then_recovers(env):
    """Redis killed mid-lesson: lesson routes 503 with Retry-After at once, free routes
    unaffected; Redis back: lessons are decided again without restarting lessongated. The
    condition shows in the status systemd shows (STATUS=) and in the log."""
    from test_lifecycle import NotifySocket
    env.origin()
    ns = NotifySocket(env)
    with Redis(env) as rd, \
            Gate(env, "2026-09-21 10:00:00", state=state(rd), routes=ROUTES, name="k",
                 env_extra={"NOTIFY_SOCKET": ns.path}) as g:
        tok = g.token("stu-kill", "533100")
        allowed(wait_ready(g, tok), "before the kill")
        lines = status_lines(ns, "student store redis up")
        check(any("student store redis up" in l for l in lines), "STATUS= lines: %r" % lines)
        rd.kill()
        for i in range(5):
            t0 = time.monotonic()
            r = g.request("/live/k?n=%d" % i, tok)
            dt = time.monotonic() - t0
            check(r.status == 503, "lesson route with Redis down: %r, want 503" % r)
            check(r.header("Retry-After") is not None, "503 without Retry-After: %s" % r.headers)
            check(dt < 1.0, "the 503 took %.2f s" % dt)
            f = g.request("/small?n=%d" % i)
            check(f.status == 200, "a free route with Redis down: %r" % f)
        lines = status_lines(ns, "student store redis unavailable")
        check(any("student store redis unavailable" in l for l in lines),
              "STATUS= does not say the store is unavailable: %r" % lines[-3:])
        rd.start()
        r = wait_ready(g, tok, limit=10)
        allowed(r, "after Redis came back")
        log = g.log_text()
        check('msg="student store unavailable"' in log, "no 'student store unavailable' line")
        check('msg="student store available again"' in log, "no 'available again' line")
        n = log.count('msg="student store unavailable"')
        check(n <= 4, "'student store unavailable' logged %d times (once per interval)" % n)


test_redis_killed_503_free_fine_then_recovers.timeout = 40


def test_redis_killed_local_decides_then_reconciles(env):
    """on_failure = "local": Redis killed mid-lesson, gateway A keeps deciding on its local
    copy (no 503; the lesson's deadline unchanged; refused at 30 minutes by its own clock);
    the condition shows as degraded in STATUS= and in the log. Redis back empty (no
    persistence): A merges its usage back, so gateway B, which never saw the student,
    refuses at once and A answers from Redis again (no 503)."""
    from test_lifecycle import NotifySocket
    env.origin()
    ns = NotifySocket(env)
    with Redis(env) as rd:
        st_a = state(rd, SPED)
        st_a["redis"]["on_failure"] = "local"
        with Gate(env, "2026-09-21 10:00:00", speed=120, state=st_a, name="a",
                  env_extra={"NOTIFY_SOCKET": ns.path}) as a, \
                Gate(env, "2026-09-21 10:00:00", speed=120, state=state(rd, SPED),
                     name="b") as b:
            tok = a.token("stu-local", "533100")
            wait_ready(a, a.token("warm-a"))
            wait_ready(b, b.token("warm-b"))
            rem, deadline = allowed(a.request("/live/first", tok), "first request, on A")
            check(rem == 1800, "a new lesson has 1800 s, got %d" % rem)
            start = deadline - 1800
            a.clock.sleep(120)
            allowed(a.request("/live/second", tok), "second request, on A")
            killed = a.clock.now()
            rd.kill()
            i, last_ok = 0, start
            while True:
                a.clock.sleep(60)
                r = a.request("/live/x?n=%d" % i, tok)
                i += 1
                check(r.status != 503, "request %d with Redis down: 503 (%s), want a local "
                      "decision" % (i, r.headers))
                if r.status == 429:
                    break
                rem, dl = allowed(r, "request %d on A with Redis down" % i)
                check(dl == deadline, "the deadline moved from %s to %s with Redis down" %
                      (local(deadline), local(dl)))
                last_ok = dl - rem
                check(i < 40, "no 429 after %d local decisions" % i)
            ra, retry_at, body = refused(r, 429, "lesson_limit", "A, locally, after 30 minutes")
            refused_at = retry_at - ra
            check(last_ok < deadline <= refused_at <= deadline + 60 + JITTER * 120 + 2,
                  "locally: last allowed %s, refused at %s, deadline %s" %
                  (local(last_ok), local(refused_at), local(deadline)))
            lines = status_lines(ns, "degraded")
            check(any("student store redis degraded" in l for l in lines),
                  "STATUS= does not say the store is degraded: %r" % lines[-3:])
            rd.start()  # empty: the killed server kept nothing
            end = time.monotonic() + 10
            while time.monotonic() < end and rd.cmd("EXISTS", "lessongate:{stu-local}") != 1:
                time.sleep(0.05)
            outage = a.clock.now() - killed
            h = rd.cmd("HGETALL", "lessongate:{stu-local}") or []
            h = dict(zip(h[::2], h[1::2]))
            check(int(h.get("s", 0)) == start and int(h.get("o", 0)) >= last_ok - start,
                  "Redis after the merge: %r, want s=%d and o >= %d" %
                  (h, start, last_ok - start))
            r = wait_ready(b, tok)  # B (on_failure closed) reconnects on its own backoff
            refused(r, 429, "lesson_limit", "B after A merged its local usage back")
            r = a.request("/live/a-again", tok)
            refused(r, 429, "lesson_limit", "A with Redis back")
            end = time.monotonic() + 5
            while True:
                lines = status_lines(ns, "-", timeout=0.2)
                if "student store redis up" in lines[-1] or time.monotonic() > end:
                    break
            check("student store redis up" in lines[-1], "STATUS= after: %r" % lines[-2:])
            log = a.log_text()
            check("lesson routes are decided on this instance's local copy" in log,
                  "the log does not say decisions are local")
            check('msg="student store reconciling"' in log, "no 'reconciling' line")
            # Once per 10 s interval of the daemon's (sped-up) clock.
            n = log.count('msg="student store unavailable"')
            check(n <= outage / 10 + 3, "'student store unavailable' logged %d times in %d fake "
                  "s (once per 10 s)" % (n, outage))
            note("refused locally %d fake s after the deadline; merged %r" %
                 (refused_at - deadline, h))


test_redis_killed_local_decides_then_reconciles.timeout = 60


def timed(g, target, tok):
    """One request and how long its answer took (real seconds)."""
    t0 = time.monotonic()
    r = g.request(target, tok)
    return r, time.monotonic() - t0


def test_redis_paused_answered_within_timeout(env):
    """Redis paused (SIGSTOP): every lesson request is answered (503) within the store's
    timeout; free routes are unaffected; SIGCONT: decisions again."""
    env.origin()
    with Redis(env) as rd, \
            Gate(env, "2026-09-21 10:00:00", state=state(rd, "200ms"), routes=ROUTES,
                 name="p") as g:
        tok = g.token("stu-stop", "533100")
        allowed(wait_ready(g, tok), "before the pause")
        with rd.paused():
            worst = 0.0
            for i in range(8):
                r, dt = timed(g, "/live/p?n=%d" % i, tok)
                worst = max(worst, dt)
                check(r.status == 503, "lesson route with Redis paused: %r, want 503" % r)
                check(dt < 0.2 + 0.25, "answered after %.3f s (timeout 200 ms)" % dt)
                f = g.request("/small?p=%d" % i)
                check(f.status == 200, "a free route with Redis paused: %r" % f)
        allowed(wait_ready(g, tok, limit=10), "after SIGCONT")
        note("slowest answer while paused: %.3f s" % worst)


test_redis_paused_answered_within_timeout.timeout = 40


def test_redis_paused_local_decides_within_timeout(env):
    """on_failure = "local" with Redis paused (SIGSTOP): a decide that gets no answer within
    the timeout is decided on the local copy (allowed, the same deadline) instead of 503;
    SIGCONT: Redis decides again, on the same lesson."""
    env.origin()
    with Redis(env) as rd:
        st = state(rd, "200ms")
        st["redis"]["on_failure"] = "local"
        with Gate(env, "2026-09-21 10:00:00", state=st, routes=ROUTES, name="pl") as g:
            tok = g.token("stu-stop-local", "533100")
            rem, deadline = allowed(wait_ready(g, tok), "before the pause")
            with rd.paused():
                worst = 0.0
                for i in range(6):
                    r, dt = timed(g, "/live/pl?n=%d" % i, tok)
                    worst = max(worst, dt)
                    rem, dl = allowed(r, "request %d with Redis paused" % i)
                    check(dl == deadline, "the deadline moved to %s" % local(dl))
                    check(dt < 0.2 + 0.25, "answered after %.3f s (timeout 200 ms)" % dt)
            end = time.monotonic() + 10
            while ('msg="student store available again"' not in g.log_text() and
                   time.monotonic() < end):
                time.sleep(0.1)
            check('msg="student store available again"' in g.log_text(),
                  "Redis was not used again after SIGCONT")
            rem, dl = allowed(g.request("/live/after", tok), "after SIGCONT")
            check(dl == deadline, "after SIGCONT the deadline is %s, want %s" %
                  (local(dl), local(deadline)))
            check(g.log_text().count('msg="student store timeout"') >= 1,
                  "no timeout was logged")
            note("slowest local answer while paused: %.3f s" % worst)


test_redis_paused_local_decides_within_timeout.timeout = 40


def test_redis_connections_close_while_deciding(env):
    """Clients that close while their decision is pending in Redis (paused): the late
    answers find no connection and are dropped; the daemon goes on (run it under ASan:
    LESSONGATED=build-asan/daemon/lessongated)."""
    env.origin()
    with Redis(env) as rd, \
            Gate(env, "2026-09-21 10:00:00", state=state(rd, "2s"), routes=ROUTES,
                 name="c") as g:
        tok = g.token("stu-close", "533100")
        allowed(wait_ready(g, tok), "before the pause")
        with rd.paused():
            socks = []
            for i in range(20):
                s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
                s.sendall(("GET /live/c?n=%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s"
                           "\r\n\r\n" % (i, tok)).encode())
                socks.append(s)
            time.sleep(0.3)  # every request is waiting for Redis now
            for s in socks:
                s.close()
            time.sleep(0.2)
        # The answers arrive for connections that are gone; the next requests are decided.
        r = wait_ready(g, tok, limit=10)
        allowed(r, "after the closed connections")
        check(g.d.alive(), "the daemon died")


def test_redis_half_close_and_pipelining_while_deciding(env):
    """While a decision is pending in Redis (paused), the client's connection keeps being
    read: a client that half-closes after its request still gets its answer, then the
    close; two pipelined requests are both answered, in order; and the daemon makes no
    epoll_ctl per decided request (reading is not stopped and restarted for the wait)."""
    o = env.origin()
    with Redis(env) as rd, \
            Gate(env, "2026-09-21 10:00:00", state=state(rd, "5s"), routes=ROUTES,
                 name="hp") as g:
        tok = g.token("stu-half", "533100")
        allowed(wait_ready(g, tok), "before the pause")
        req = ("GET /live/hp?n=%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok +
               "\r\n\r\n")
        mark = o.mark()
        with rd.paused():
            half = HttpConn(g.port)
            half.send(req % 0)
            half.s.shutdown(socket.SHUT_WR)
            pipe = HttpConn(g.port)
            pipe.send((req % 1) + (req % 2))
            time.sleep(0.4)  # both connections wait for Redis; the EOF and the second
            check(g.d.alive(), "the daemon died")  # request have arrived meanwhile
        allowed(half.read_response(), "the half-closed client's request")
        try:
            half.read_response()
            check(False, "a second response on the half-closed connection")
        except ConnClosed:
            pass
        for n in (1, 2):
            allowed(pipe.read_response(), "pipelined request %d" % n)
        pipe.s.close()
        got = [t for t in origin_targets(o, mark) if t.startswith("/live/hp")]
        check(sorted(got) == ["/live/hp?n=0", "/live/hp?n=1", "/live/hp?n=2"] and
              got.index("/live/hp?n=1") < got.index("/live/hp?n=2"),
              "the origin received %r" % got)
        if shutil.which("strace") is None:
            note("strace not installed: the epoll_ctl count was not checked")
            return
        out = os.path.join(env.dir, "strace-hp.txt")
        st = subprocess.Popen(["strace", "-c", "-f", "-q", "-p", str(g.d.proc.pid), "-o", out],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        c = HttpConn(g.port)
        n = 200
        for i in range(n):
            c.send(req % (100 + i))
            allowed(c.read_response(), "request %d" % i)
        st.send_signal(signal.SIGINT)
        st.wait(timeout=10)
        calls = {}
        for line in open(out):
            f = line.split()
            if len(f) >= 5 and f[-1].isidentifier() and f[3].isdigit():
                calls[f[-1]] = int(f[3])
        check(calls.get("recvfrom", 0) + calls.get("read", 0) >= n,
              "strace counted too little to judge (%r): could it attach?" % calls)
        check(calls.get("epoll_ctl", 0) <= n // 10,
              "%d epoll_ctl for %d decided requests: %r" % (calls.get("epoll_ctl", 0), n, calls))
        note("system calls for %d Redis-decided requests: %r" % (n, calls))


test_redis_half_close_and_pipelining_while_deciding.timeout = 60


class Sentinel:
    """A redis-sentinel (redis-server --sentinel) watching one master, quorum 1."""

    cmd = Redis.cmd
    _read = Redis._read

    def __init__(self, env, master_port, host="127.0.0.1", extra=""):
        self.auth = None
        self.port = free_port()
        d = os.path.join(env.dir, "sentinel")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "sentinel.conf")
        with open(conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\n"
                    "%s"
                    "sentinel monitor mymaster %s %d 1\n"
                    "sentinel down-after-milliseconds mymaster 1000\n"
                    "sentinel failover-timeout mymaster 4000\n" %
                    (self.port, d, extra, host, master_port))
        log = open(os.path.join(d, "sentinel.log"), "ab")
        self.proc = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server",
                                      conf, "--sentinel"], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()

    def named(self):
        """The master's (host, port) as this sentinel names it; None if it cannot say."""
        try:
            r = self.cmd("SENTINEL", "get-master-addr-by-name", "mymaster")
            return (r[0], int(r[1])) if r else None
        except (OSError, RuntimeError):
            return None

    def master(self):
        n = self.named()
        return n[1] if n else None

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def until(what, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        v = what()
        if v:
            return v
        time.sleep(0.05)
    return what()


def test_redis_sentinel_failover_keeps_the_clock(env):
    """state.redis.sentinel: the gateway asks a sentinel for the master; the master killed,
    the sentinel promotes the replica, and the gateway (asking again on reconnect) decides
    there with the student's replicated clock: the same lesson and deadline."""
    env.origin()
    with Redis(env, name="master") as m, \
            Redis(env, name="replica", args=("--replicaof", "127.0.0.1", str(m.port))) as r:
        sn = Sentinel(env, m.port)
        try:
            check(until(lambda: sn.master() == m.port, 10), "the sentinel does not name the "
                  "master: %r" % sn.master())
            st = {"store": "redis", "redis": {"sentinel": {
                "master": "mymaster", "addresses": ["127.0.0.1:%d" % sn.port]},
                "timeout": "200ms"}}
            with Gate(env, "2026-09-21 10:00:00", state=st, name="s") as g:
                tok = g.token("stu-sentinel", "533100")
                rem, deadline = allowed(wait_ready(g, tok), "through the sentinel's master")
                key = "lessongate:{stu-sentinel}"
                check(m.cmd("EXISTS", key) == 1, "the key is not on the master")
                check(until(lambda: r.cmd("EXISTS", key) == 1, 10), "not replicated")
                check(until(lambda: sn.cmd("SENTINEL", "replicas", "mymaster"), 15),
                      "the sentinel has not found the replica")
                m.kill()
                check(until(lambda: sn.master() == r.port, 30),
                      "no failover to the replica: the sentinel names %r" % sn.master())
                g.clock.sleep(1)
                r2 = wait_ready(g, tok, limit=15)
                rem2, deadline2 = allowed(r2, "after the failover")
                check(deadline2 == deadline, "the deadline moved from %s to %s: the clock was "
                      "lost in the failover" % (local(deadline), local(deadline2)))
                log = g.log_text()
                check("address=sentinel:mymaster" in log, "the start line does not name the "
                      "sentinel master")
                note("failover: the gateway decided on the promoted replica, same deadline")
        finally:
            sn.close()


test_redis_sentinel_failover_keeps_the_clock.timeout = 90


def test_redis_sentinel_naming_the_master_by_name_is_refused(env):
    """A sentinel that announces the master by host name (announce-hostnames): connecting
    would resolve the name on a worker's loop, so the answer is refused, lesson routes get
    503 and the log says why."""
    env.origin()
    with Redis(env, name="master") as m:
        sn = Sentinel(env, m.port, host="localhost",
                      extra="sentinel resolve-hostnames yes\nsentinel announce-hostnames yes\n")
        try:
            check(until(sn.named, 10), "the sentinel does not know the master")
            named = sn.named()[0]
            if named != "localhost":
                raise Skip("this redis-sentinel announces %r, not the host name" % named)
            st = {"store": "redis", "redis": {"sentinel": {
                "master": "mymaster", "addresses": ["127.0.0.1:%d" % sn.port]}}}
            with Gate(env, "2026-09-21 10:00:00", state=st, name="sh") as g:
                tok = g.token("stu-named", "533100")
                r = g.request("/live/x", tok)
                check(r.status == 503, "a master named by host name was used: %r" % r)
                check(until(lambda: "is a name, not an IP address" in g.log_text(), 5),
                      "the log does not say the master was named by host name")
        finally:
            sn.close()


def test_redis_acl_user_database_and_prefix(env):
    """ACL AUTH (username and password), the database and the key prefix are used; a wrong
    password leaves lesson routes at 503 and the log names Redis's reason."""
    env.origin()
    with Redis(env, args=["--requirepass", "admin-pw"]) as rd:
        rd.auth = ("default", "admin-pw")
        rd.cmd("ACL", "SETUSER", "lg", "on", ">lg-pw", "~lg:*", "+@all")
        good = {"store": "redis", "redis": {"address": "127.0.0.1:%d" % rd.port,
                                            "username": "lg", "password": "lg-pw",
                                            "database": 3, "key_prefix": "lg:"}}
        bad = {"store": "redis", "redis": {"address": "127.0.0.1:%d" % rd.port,
                                           "username": "lg", "password": "wrong"}}
        with Gate(env, "2026-09-21 10:00:00", state=good, routes=ROUTES, name="acl") as g, \
                Gate(env, "2026-09-21 10:00:00", state=bad, routes=ROUTES, name="bad") as gb:
            tok = g.token("stu-acl", "533100")
            allowed(wait_ready(g, tok), "with the ACL user")
            check(rd.cmd("EXISTS", "lg:{stu-acl}", db=3) == 1,
                  "no key lg:{stu-acl} in database 3: %s" % rd.cmd("KEYS", "*", db=3))
            check(rd.cmd("EXISTS", "lg:{stu-acl}") == 0, "the key is in database 0 too")
            r = gb.request("/live/x", gb.token("stu-bad"))
            check(r.status == 503, "a wrong password: %r, want 503" % r)
            time.sleep(0.5)
            log = gb.log_text()
            check('msg="student store unavailable"' in log and "WRONGPASS" in log,
                  "the log does not say why: %r" % log[-800:])


test_redis_acl_user_database_and_prefix.timeout = 40


def test_redis_state_change_on_reload_is_said(env):
    """A reload that changes state (memory -> redis) says it takes effect at the next restart;
    the running store goes on."""
    env.origin()
    with Gate(env, "2026-09-21 10:00:00", routes=ROUTES, name="rl") as g:
        tok = g.token("stu-rl", "533100")
        allowed(g.request("/live/x", tok), "before the reload")
        with open(g.d.conf) as f:
            text = f.read()
        redis = 'state = { store = "redis"; redis = { address = "127.0.0.1:1"; }; };'
        # The harness names the memory store itself; the reload replaces that line.
        text, n = re.subn(r"^state = .*;$", redis, text, flags=re.M)
        g.d.rewrite(text if n else text + "\n" + redis + "\n")
        g.d.hup()
        end = time.monotonic() + 5
        while time.monotonic() < end and "configuration reloaded" not in g.log_text():
            time.sleep(0.05)
        log = g.log_text()
        check("configuration reloaded" in log, "the reload failed: %r" % log[-600:])
        check('msg="state changed; takes effect at the next restart" store=redis running=memory'
              in log, "the reload did not say the store change needs a restart: %r" % log[-600:])
        allowed(g.request("/live/y", tok), "after the reload (still the memory store)")


def statuses_until_closed(c):
    """The status of every response on c until the proxy closes it."""
    got = []
    try:
        while True:
            got.append(c.read_response().status)
    except ConnClosed:
        return got


def test_redis_half_close_after_pipelined_requests(env):
    """A client that sends requests and half-closes gets every complete request answered,
    in order, then the close: while Redis is paused (the decide times out: 503 each), not
    paused, and paused then continued. (A half-close used to make the connection close
    after the request in progress, dropping those behind it, depending on timing.)"""
    o = env.origin()
    with Redis(env) as rd, \
            Gate(env, "2026-09-21 10:00:00", state=state(rd, "2s"), routes=ROUTES,
                 name="rv") as g:
        tok = g.token("stu-rv", "533100")
        allowed(wait_ready(g, tok), "before the pause")
        req = ("GET /live/rv?n=%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok +
               "\r\n\r\n")
        with rd.paused():
            a = HttpConn(g.port)
            a.send(req % 0)
            a.s.shutdown(socket.SHUT_WR)
            b = HttpConn(g.port)
            b.send((req % 1) + (req % 2))
            b.s.shutdown(socket.SHUT_WR)
            time.sleep(2.5)
            ra = statuses_until_closed(a)
            rb = statuses_until_closed(b)
        note("timeout+half-close: %r; pipelined+half-close: %r" % (ra, rb))
        allowed(wait_ready(g, tok), "after the pause")
        c = HttpConn(g.port)
        c.send((req % 3) + (req % 4))
        c.s.shutdown(socket.SHUT_WR)
        rc = statuses_until_closed(c)
        note("not paused, pipelined+half-close: %r" % rc)
        with rd.paused():
            d = HttpConn(g.port)
            d.send((req % 5) + (req % 6))
            d.s.shutdown(socket.SHUT_WR)
            time.sleep(0.4)
        rd2 = statuses_until_closed(d)
        note("paused then answered, pipelined+half-close: %r" % rd2)
        check(ra == [503] and rb == [503, 503], "ra=%r rb=%r" % (ra, rb))
        check(len(rc) == 2 and len(rd2) == 2,
              "pipelined requests before a half-close dropped: %r %r" % (rc, rd2))


test_redis_half_close_after_pipelined_requests.timeout = 60


def _tls_client(port, ctx, host):
    """A TLS client over memory BIOs (so close_notify can be sent without a FIN)."""
    import ssl as _ssl
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    inc, out = _ssl.MemoryBIO(), _ssl.MemoryBIO()
    o = ctx.wrap_bio(inc, out, server_hostname=host)

    def pump_out():
        d = out.read()
        if d:
            s.sendall(d)

    while True:
        try:
            o.do_handshake()
            break
        except _ssl.SSLWantReadError:
            pump_out()
            d = s.recv(65536)
            if not d:
                raise ConnClosed("eof in handshake")
            inc.write(d)
    pump_out()
    return s, o, inc, out, pump_out


def _tls_read_all(s, o, inc, limit=3.0):
    """Read decrypted bytes until TCP EOF / TLS close / timeout: (data, how)."""
    import ssl as _ssl
    data = b""
    s.settimeout(limit)
    while True:
        try:
            while True:
                d = o.read(65536)
                if not d:
                    return data, "tls-close"
                data += d
        except _ssl.SSLWantReadError:
            pass
        except _ssl.SSLZeroReturnError:
            return data, "tls-close"
        except _ssl.SSLError as e:
            return data, "ssl-error %s" % e
        try:
            d = s.recv(65536)
        except socket.timeout:
            return data, "timeout (still open)"
        except ConnectionResetError:
            return data, "reset"
        if not d:
            inc.write_eof()
            try:
                data += o.read(65536)
            except Exception:
                pass
            return data, "tcp-eof"
        inc.write(d)


def test_redis_tls_close_notify_while_deciding(env):
    """A TLS client that sends its request and close_notify (with or without a FIN) while
    the decision is pending in Redis gets its answer, then the connection closes at once
    (close_notify without a FIN leaves nothing to read on the socket: the half-close is
    noted when it is read, not read again after the decision)."""
    import ssl as _ssl
    from test_tls import tls_conf
    o = env.origin()
    orig = env.daemon
    env.daemon = lambda **kw: orig(tls=tls_conf(env, sni=False), **kw)
    try:
        with Redis(env) as rd, \
                Gate(env, "2026-09-21 10:00:00", state=state(rd, "2s"), routes=ROUTES,
                     name="rvt") as g:
            tp = g.d.tls_port
            tok = g.token("stu-rvt", "533100")
            allowed(wait_ready(g, tok), "before the pause")
            req = ("GET /live/rvt?n=%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok +
                   "\r\n\r\n")
            ctx = env.certs.client_context()
            res = {}
            for fin in (False, True):
                with rd.paused():
                    s, ob, inc, out, pump = _tls_client(tp, ctx, "gate.test")
                    ob.write((req % int(fin)).encode())
                    pump()
                    time.sleep(0.3)
                    try:
                        ob.unwrap()
                    except _ssl.SSLWantReadError:
                        pass
                    pump()  # close_notify
                    if fin:
                        s.shutdown(socket.SHUT_WR)
                    time.sleep(0.4)  # the close_notify is read in DECIDE
                t0 = time.monotonic()
                data, how = _tls_read_all(s, ob, inc, limit=4.0)
                res[fin] = (data[:12], how, round(time.monotonic() - t0, 2))
                s.close()
            note("TLS close_notify in DECIDE: %r" % res)
            for fin in (False, True):
                data, how, took = res[fin]
                check(data.startswith(b"HTTP/1.1 ") and data[9:12] not in (b"503", b"504"),
                      "TLS close_notify (FIN %s) while deciding: no answer: %r" % (fin, res))
                check(how != "timeout (still open)",
                      "TLS close_notify (FIN %s) while deciding: the connection stayed open: %r"
                      % (fin, res))
            check(g.d.alive(), "daemon died")
    finally:
        env.daemon = orig


test_redis_tls_close_notify_while_deciding.timeout = 60
