"""Daemon life: SIGHUP reload under load, bad reloads, SIGTERM drain, workers, connection limits."""

import os
import socket
import threading
import time

from harness import ConnClosed, HttpConn, TestFailure, check, get, make_config


def conf_for(port, origin, drain=None, workers=1):
    t = {"drain": drain} if drain else None
    return make_config([{"address": "127.0.0.1:%d" % port}],
                       {"address": "127.0.0.1:%d" % origin.port}, workers=workers, timeouts=t)


class Load:
    """A client loop in a thread: new connections and keep-alive requests, counting failures."""

    def __init__(self, port):
        self.port = port
        self.ok = 0
        self.fail = []
        self.origins = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            try:
                with HttpConn(self.port, timeout=5) as c:
                    for _ in range(5):  # a few keep-alive requests per connection
                        r = c.request("GET", "/small")
                        if r.status != 200:
                            self.fail.append("status %d" % r.status)
                        else:
                            self.ok += 1
                            self.origins.append(r.body.split()[-1].decode())
                        if self.stop.is_set():
                            break
            except (OSError, ConnClosed, TestFailure) as e:
                self.fail.append(repr(e))

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.t.join(10)


def test_reload_under_load_no_failed_requests(env):
    a, b = env.origin("A"), env.origin("B")
    with env.daemon(upstream={"address": "127.0.0.1:%d" % a.port}) as d:
        port = d.port
        with Load(port) as load1, Load(port) as load2:
            time.sleep(0.7)
            for i, o in enumerate((b, a, b)):
                d.rewrite(conf_for(port, o))
                d.hup()
                time.sleep(0.7)
        d.check_alive()
        fails = load1.fail + load2.fail
        ok = load1.ok + load2.ok
        check(ok > 50, "only %d requests went through in 3 s" % ok)
        check(not fails, "%d of %d requests failed across reloads: %s" % (len(fails), ok + len(fails),
                                                                          fails[:3]))
        check("B" in load1.origins + load2.origins, "the reloaded upstream (B) never answered")
        r = get(port, "/small")
        check(r.body == b"hello from B\n", "after the last reload: %r" % r.body)


def test_reload_bad_config_keeps_old(env):
    a, b = env.origin("A"), env.origin("B")
    with env.daemon(upstream={"address": "127.0.0.1:%d" % a.port}) as d:
        check(get(d.port).body == b"hello from A\n", "before")
        good = conf_for(d.port, b)
        d.rewrite(good.replace("workers", "workerz"))
        d.hup()
        time.sleep(0.5)
        d.check_alive()
        r = get(d.port)
        check(r.status == 200 and r.body == b"hello from A\n", "a bad reload changed things: %r" % r)
        check(d.conf in d.tail(4000), "the failed reload did not log the file:line (%s)" % d.tail(300))
        d.rewrite(good)
        d.hup()
        time.sleep(0.5)
        r = get(d.port)
        check(r.body == b"hello from B\n", "a good reload after a bad one did not apply: %r" % r)


def test_reload_reaches_open_connection_at_next_request(env):
    """A reload reaches every connection: the request in flight during the SIGHUP is answered
    under the old configuration (origin A), the next request on the same keep-alive connection
    goes to the new upstream (origin B)."""
    a, b = env.origin("A"), env.origin("B")
    with env.daemon(upstream={"address": "127.0.0.1:%d" % a.port}) as d:
        with HttpConn(d.port) as old:
            check(old.request("GET", "/small").body == b"hello from A\n", "before")
            old.send(b"GET /slow?delay=1 HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.3)  # the request is at origin A now
            d.rewrite(conf_for(d.port, b))
            d.hup()
            r = old.read_response()
            check(r.status == 200 and r.body == b"slow hello from A\n",
                  "the exchange in flight changed configuration under its feet: %r" % r)
            time.sleep(0.3)
            check(get(d.port).body == b"hello from B\n", "a new connection should use the new config")
            r = old.request("GET", "/small")
            check(r.status == 200 and r.body == b"hello from B\n",
                  "the next request on an open connection kept the old configuration (got %r)" %
                  r.body)


def test_sigterm_drains_in_flight_request(env):
    a = env.origin("A")
    with env.daemon(upstream={"address": "127.0.0.1:%d" % a.port},
                    timeouts={"drain": "5s"}) as d:
        idle = HttpConn(d.port)
        idle.request("GET", "/small")
        result = {}

        def slow():
            try:
                result["r"] = get(d.port, "/slow?delay=1.5", timeout=8)
            except Exception as e:
                result["e"] = e

        t = threading.Thread(target=slow, daemon=True)
        t.start()
        time.sleep(0.4)
        t0 = time.monotonic()
        d.term()
        # New connections are no longer accepted.
        time.sleep(0.3)
        refused = False
        try:
            s = socket.create_connection(("127.0.0.1", d.port), timeout=1)
            s.settimeout(1)
            s.sendall(b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
            refused = s.recv(100) == b""
            s.close()
        except OSError:
            refused = True
        check(idle.closed_within(2), "an idle keep-alive connection was not closed on SIGTERM")
        t.join(8)
        check("r" in result, "the in-flight request failed: %r" % result.get("e"))
        check(result["r"].status == 200, "in-flight request during drain: %r" % result["r"])
        rc = d.wait(6)
        dt = time.monotonic() - t0
        check(rc is not None, "lessongated did not exit after draining")
        check(rc == 0, "exit status %r after SIGTERM (want 0)" % rc)
        check(dt < 4, "exit took %.1fs with only a 1.5 s request in flight" % dt)
        check(refused, "a new connection was served after SIGTERM")


def test_sigterm_grace_period_expires(env):
    a = env.origin("A")
    with env.daemon(upstream={"address": "127.0.0.1:%d" % a.port,
                              "response_timeout": "60s"},
                    timeouts={"drain": "1s"}) as d:
        c = HttpConn(d.port, timeout=10)
        c.send(b"GET /slow?delay=20 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        t0 = time.monotonic()
        d.term()
        rc = d.wait(6)
        dt = time.monotonic() - t0
        check(rc is not None, "lessongated still running 6 s after SIGTERM with drain 1s")
        check(dt < 3, "exit took %.1fs with drain 1s" % dt)
        check(c.closed_within(2), "the client connection was not closed at exit")
        c.close()


def test_two_workers_serve_concurrently(env):
    with env.daemon(workers=2) as d:
        results = []

        def worker():
            for _ in range(20):
                try:
                    results.append(get(d.port, "/small").status)
                except Exception as e:
                    results.append(repr(e))

        ts = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(20)
        check(results.count(200) == 160, "%d of 160 requests succeeded: %r" %
              (results.count(200), [r for r in results if r != 200][:3]))
        # Slow requests on both workers at once do not block each other.
        t0 = time.monotonic()
        ts = [threading.Thread(target=lambda: results.append(get(d.port, "/slow?delay=1").status),
                               daemon=True) for _ in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(10)
        check(time.monotonic() - t0 < 3, "6 parallel 1 s requests took %.1fs" % (time.monotonic() - t0))


def test_max_connections_limit(env):
    with env.daemon(limits={"max_connections": 4}) as d:
        conns = [HttpConn(d.port) for _ in range(4)]
        for c in conns:
            check(c.request("GET", "/small").status == 200, "within the limit")
        extra = HttpConn(d.port, timeout=3)
        served = False
        try:
            extra.send(b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
            r = extra.read_response()
            served = r.status == 200
        except (ConnClosed, OSError, TestFailure):
            pass
        check(not served, "a 5th connection was served with max_connections = 4")
        extra.close()
        conns[0].close()
        time.sleep(0.3)
        ok = False
        for _ in range(10):
            try:
                if get(d.port, "/small", timeout=2).status == 200:
                    ok = True
                    break
            except Exception:
                time.sleep(0.2)
        check(ok, "no connection accepted after one was freed")
        for c in conns[1:]:
            c.close()


test_reload_under_load_no_failed_requests.timeout = 30
test_sigterm_drains_in_flight_request.timeout = 25
test_sigterm_grace_period_expires.timeout = 20
test_two_workers_serve_concurrently.timeout = 30


def test_workers_zero_means_one_per_core(env):
    import os
    with env.daemon(workers=0) as d:
        for i in range(10):
            check(get(d.port, "/small").status == 200, "request %d with workers = 0" % i)
        threads = len(os.listdir("/proc/%d/task" % d.pid))
        check(threads >= (os.cpu_count() or 1), "%d threads for %d cores with workers = 0" %
              (threads, os.cpu_count()))


class NotifySocket:
    """A stand-in for systemd's notification socket (NOTIFY_SOCKET)."""

    def __init__(self, env):
        import os
        self.path = os.path.join(env.dir, "notify-%d.sock" % env.seq)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.path)
        self.msgs = []

    def wait_for(self, key, timeout=5.0):
        """The first message (after those already seen) containing key, else None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.s.settimeout(max(0.01, end - time.monotonic()))
            try:
                m = self.s.recv(4096).decode("utf-8", "replace")
            except socket.timeout:
                break
            self.msgs.append(m)
            if key in m.split("\n"):
                return m
        return None

    def close(self):
        self.s.close()


def test_systemd_notify_ready_reloading_stopping(env):
    a = env.origin("A")
    ns = NotifySocket(env)
    try:
        with env.daemon(env_extra={"NOTIFY_SOCKET": ns.path}) as d:
            check(ns.wait_for("READY=1"), "no READY=1 on NOTIFY_SOCKET (got %r)" % ns.msgs)
            check(any(l.startswith("STATUS=") for m in ns.msgs for l in m.split("\n")),
                  "no STATUS= with READY=1: %r" % ns.msgs)
            d.rewrite(conf_for(d.port, a))
            d.hup()
            m = ns.wait_for("RELOADING=1")
            check(m, "no RELOADING=1 after SIGHUP (got %r)" % ns.msgs)
            check("MONOTONIC_USEC=" in m, "RELOADING=1 without MONOTONIC_USEC (systemd 253+ wants "
                  "it for Type=notify-reload): %r" % m)
            check(ns.wait_for("READY=1"), "no READY=1 after the reload (got %r)" % ns.msgs[-3:])
            d.term()
            check(ns.wait_for("STOPPING=1"), "no STOPPING=1 after SIGTERM (got %r)" % ns.msgs[-3:])
            check(d.wait(5) == 0, "exit status after SIGTERM")
    finally:
        ns.close()


def test_systemd_watchdog_pings(env):
    ns = NotifySocket(env)
    try:
        with env.daemon(env_extra={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "1000000"}):
            check(ns.wait_for("READY=1"), "no READY=1 (got %r)" % ns.msgs)
            t0 = time.monotonic()
            n = 0
            while time.monotonic() - t0 < 2.2:
                if ns.wait_for("WATCHDOG=1", timeout=2.2 - (time.monotonic() - t0)):
                    n += 1
            check(n >= 2, "%d WATCHDOG=1 in 2.2 s with WatchdogSec=1s (want a ping every <= 0.5 s)"
                  % n)
    finally:
        ns.close()


test_systemd_notify_ready_reloading_stopping.timeout = 20
test_systemd_watchdog_pings.timeout = 15


def log_since(d, offset):
    """What the daemon logged after byte offset of its log."""
    d.log.flush()
    with open(d.logpath, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def log_size(d):
    d.log.flush()
    return os.path.getsize(d.logpath)


def test_reload_that_cannot_listen_fails_and_says_so(env):
    """A reload adding an address someone else holds fails as a whole, and says so."""
    a, b = env.origin("A"), env.origin("B")
    with env.daemon(upstream={"address": "127.0.0.1:%d" % a.port}) as d:
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        taken = blocker.getsockname()[1]
        new = make_config([{"address": "127.0.0.1:%d" % d.port}, {"address": "127.0.0.1:%d" % taken}],
                          {"address": "127.0.0.1:%d" % b.port})
        mark = log_size(d)
        d.rewrite(new)
        d.hup()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "reload failed" not in log_since(d, mark):
            time.sleep(0.05)
        out = log_since(d, mark)
        blocker.close()
        check("reload failed" in out and "127.0.0.1:%d" % taken in out and "listen[1].address" in out,
              "the failed bind was not reported as a failed reload naming listen[1]: %r" % out)
        check("configuration reloaded" not in out, "a reload that could not listen claimed success: %r" % out)
        check(get(d.port).body == b"hello from A\n", "the failed reload still applied the new upstream")
        # Once the address is free, the same file reloads and the new listener serves.
        mark = log_size(d)
        d.hup()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "configuration reloaded" not in log_since(d, mark):
            time.sleep(0.05)
        check("configuration reloaded" in log_since(d, mark), "the retry did not reload: %r" % log_since(d, mark))
        time.sleep(0.2)
        check(get(taken).body == b"hello from B\n", "the new listener does not serve the new config")
        check(get(d.port).body == b"hello from B\n", "the kept listener does not serve the new config")


def test_start_and_reload_warn_of_a_year_without_calendar(env):
    """At start and at every reload, a year in the next 60 days with no calendar is logged."""
    import glob
    libs = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not libs:
        from harness import Skip
        raise Skip("libfaketime is not installed")
    fake = {"LD_PRELOAD": libs[0], "FAKETIME": "@2026-12-20 10:00:00", "TZ": "Asia/Shanghai"}
    with env.daemon(env_extra=fake) as d:
        # Log lines reach the file through the daemon's writer thread: wait for them.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "year=2027" not in log_since(d, 0):
            time.sleep(0.05)
        out = log_since(d, 0)
        check("calendar missing" in out and "year=2027" in out and "unknown_year=weekly" in out,
              "no missing-calendar warning at start on 2026-12-20: %r" % out[-1500:])
        mark = log_size(d)
        d.hup()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "year=2027" not in log_since(d, mark):
            time.sleep(0.05)
        check("calendar missing" in log_since(d, mark), "no warning after a reload: %r" % log_since(d, mark))
