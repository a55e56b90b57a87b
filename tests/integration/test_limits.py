"""Resource limits under attack: idle clients do not pin upstream connections, running out of
descriptors does not spin, logging never blocks, slow bodies end, per-client caps hold."""

import os
import resource
import socket
import subprocess
import time

from harness import ConnClosed, HttpConn, TestFailure, check, get


def origin_open_since(o, mark):
    """Origin connections opened since mark that are still open."""
    return [c for c in o.conns() if c["id"] >= mark[0] and c["closed"] is None]


def test_idle_clients_do_not_pin_upstream_connections(env):
    o = env.origin()
    with env.daemon(workers=2, upstream={"address": "127.0.0.1:%d" % o.port, "keepalive": 3}) as d:
        m = o.mark()
        clients = []
        for i in range(12):
            c = HttpConn(d.port)
            # Two requests each: the second may reuse an idle upstream connection.
            for j in range(2):
                r = c.request("GET", "/small?c=%d&r=%d" % (i, j))
                check(r.status == 200, "client %d request %d: %r" % (i, j, r))
            clients.append(c)
        # A few clients at the same time, so several upstream connections were in use at once.
        busy = [HttpConn(d.port) for _ in range(6)]
        for c in busy:
            c.send(b"GET /slow?delay=0.3 HTTP/1.1\r\nHost: t\r\n\r\n")
        for c in busy:
            check(c.read_response().status == 200, "concurrent request")
        time.sleep(0.5)
        still = origin_open_since(o, m)
        check(len(still) <= 3, "%d upstream connections stay open for 18 idle keep-alive clients "
                               "with upstream.keepalive = 3" % len(still))
        # Idle clients are still served (from the pool or a new connection).
        for i, c in enumerate(clients + busy):
            r = c.request("GET", "/small?again=%d" % i)
            check(r.status == 200, "idle client %d after the others: %r" % (i, r))
            c.close()
        time.sleep(0.3)
        check(len(origin_open_since(o, m)) <= 3, "more than keepalive idle upstream connections")
test_idle_clients_do_not_pin_upstream_connections.timeout = 30


def cpu_seconds(pid):
    """User + system CPU time of a process so far, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nofile_limits(pid):
    """(soft, hard) RLIMIT_NOFILE of a running process."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise TestFailure("no 'Max open files' in /proc/%d/limits" % pid)


def log_lines(d, needle):
    with open(d.logpath, "rb") as f:
        return [l for l in f.read().decode("utf-8", "replace").splitlines() if needle in l]


def ulimit_wrapper(env, soft, hard):
    """A script that starts lessongated with RLIMIT_NOFILE soft/hard (the daemon replaces it)."""
    path = os.path.join(env.dir, "lessongated-nofile-%d-%d" % (soft, hard))
    with open(path, "w") as f:
        f.write("#!/bin/sh\nulimit -n %d && ulimit -Sn %d && exec %s \"$@\"\n" %
                (hard, soft, env.binary))
    os.chmod(path, 0o755)
    return path


def test_descriptor_limit_sizes_max_connections(env):
    o = env.origin()
    real = env.binary
    env.binary = ulimit_wrapper(env, 40, 80)
    try:
        d = env.daemon(upstream={"address": "127.0.0.1:%d" % o.port, "keepalive": 4})
    finally:
        env.binary = real
    with d:
        soft, hard = nofile_limits(d.pid)
        check(soft == hard == 80, "the soft descriptor limit was not raised to the hard one: "
                                  "%d/%d" % (soft, hard))
        warn = log_lines(d, "max_connections does not fit")
        check(len(warn) == 1 and "max_connections=10000" in warn[0] and "nofile=80" in warn[0],
              "no start-up warning that max_connections does not fit 80 descriptors: %r" % warn)
        usable = int(warn[0].split("usable=")[1].split()[0])
        check(4 <= usable <= 30, "usable connections %d for 80 descriptors" % usable)
        # Twice as many idle clients as fit: the rest wait in the backlog, nothing fails.
        conns = [HttpConn(d.port, timeout=3) for _ in range(2 * usable)]
        t0 = cpu_seconds(d.pid)
        time.sleep(1.5)
        check(cpu_seconds(d.pid) - t0 < 0.5, "the daemon spins with %d idle clients" % len(conns))
        for c in conns[:usable]:
            r = c.request("GET", "/small")
            check(r.status == 200, "an accepted client: %r" % r)
        check(not log_lines(d, "accept failed"),
              "accept failed although max_connections was sized to the descriptors: %r" %
              log_lines(d, "accept failed")[:2])
        for c in conns[:usable]:
            c.close()
        for i, c in enumerate(conns[usable:]):
            r = c.request("GET", "/small")
            check(r.status == 200, "client %d waiting in the backlog: %r" % (usable + i, r))
            c.close()
test_descriptor_limit_sizes_max_connections.timeout = 30


def test_out_of_descriptors_backs_off(env):
    with env.daemon() as d:
        idle = [HttpConn(d.port) for _ in range(4)]
        for c in idle:
            check(c.request("GET", "/small").status == 200, "before the descriptor shortage")
        time.sleep(0.2)
        nfd = len(os.listdir("/proc/%d/fd" % d.pid))
        # The limit drops under the running daemon (as if something else took the descriptors).
        resource.prlimit(d.pid, resource.RLIMIT_NOFILE, (nfd + 1, nfd + 64))
        flood = []
        for _ in range(20):
            c = HttpConn(d.port, timeout=3)
            c.send(b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
            flood.append(c)
        time.sleep(0.3)
        t0 = cpu_seconds(d.pid)
        time.sleep(2)
        used = cpu_seconds(d.pid) - t0
        check(used < 0.4, "out of descriptors, the daemon used %.2f s of CPU in 2 s" % used)
        lines = log_lines(d, "accept failed")
        check(1 <= len(lines) <= 3, "%d 'accept failed' lines in 2 s (want one per interval)" %
              len(lines))
        check("Too many open files" in lines[0] and "pause_ms=" in lines[0],
              "the accept failure line does not say why: %r" % lines[0])
        d.check_alive()
        for c in idle + flood:
            c.close()
        resource.prlimit(d.pid, resource.RLIMIT_NOFILE, (nfd + 64, nfd + 64))
        ok = False
        for _ in range(20):
            try:
                ok = get(d.port, "/small", timeout=2).status == 200
                break
            except Exception:
                time.sleep(0.2)
        check(ok, "no request served once descriptors were free again")
        for _ in range(30):  # said after a quiet second
            again = log_lines(d, "accept failures over")
            if again:
                break
            time.sleep(0.1)
        check(again and "failures=" in again[-1],
              "no 'accept failures over' line with the failures counted: %r" % again)
test_out_of_descriptors_backs_off.timeout = 30


def trickle(port, n, step, every, limit_s):
    """POST /upload with Content-Length n, sent step bytes every `every` s; (status, seconds)."""
    c = HttpConn(port, timeout=limit_s + 5)
    t0 = time.monotonic()
    c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % n)
    sent = 0
    c.s.settimeout(0.01)
    status = None
    try:
        while sent < n and time.monotonic() - t0 < limit_s:
            k = min(step, n - sent)
            c.s.sendall(b"x" * k)
            sent += k
            time.sleep(every)
            try:
                if c.s.recv(1, socket.MSG_PEEK) is not None:
                    break  # an answer (or EOF) came early
            except (BlockingIOError, socket.timeout):
                pass
    except OSError:
        pass  # the proxy closed while we were sending
    c.s.settimeout(5)
    try:
        status = c.read_response().status
    except (ConnClosed, OSError, TestFailure):
        pass
    dt = time.monotonic() - t0
    c.close()
    return status, dt, sent


def test_trickled_body_gets_408(env):
    o = env.origin()
    with env.daemon(timeouts={"body": "1s", "body_min_rate": 100}) as d:
        m = o.mark()
        # One byte every 0.3 s: never 1 s without progress, but 3 bytes a second.
        status, dt, sent = trickle(d.port, 1000, 1, 0.3, 8)
        check(status == 408, "a body trickled at 3 B/s with body_min_rate 100 got %r after "
                             "%.1f s (want 408)" % (status, dt))
        check(dt < 3, "the trickled body was cut only after %.1f s" % dt)
        time.sleep(0.3)
        for conn in o.conns(since=m[0]):
            check(conn["closed"] is not None,
                  "the upstream connection of the trickled body is still open")
        # A body at 2 kB/s is well above the rate: served.
        status, dt, sent = trickle(d.port, 6000, 400, 0.2, 8)
        check(status == 200 and sent == 6000,
              "a 2 kB/s body (3 s long) got %r after %.1f s, %d bytes" % (status, dt, sent))
test_trickled_body_gets_408.timeout = 30


def test_body_total_bounds_a_body(env):
    with env.daemon(timeouts={"body": "1s", "body_min_rate": 0, "body_total": "2s"}) as d:
        # 25 bytes every 0.1 s goes on for 4 s: over body_total although never idle.
        status, dt, sent = trickle(d.port, 1000, 25, 0.1, 8)
        check(status == 408, "a 4 s body with body_total 2s got %r after %.1f s" % (status, dt))
        check(1.8 <= dt < 3.5, "cut after %.1f s with body_total 2s" % dt)
        status, dt, sent = trickle(d.port, 1000, 250, 0.1, 8)
        check(status == 200, "a body within body_total got %r" % status)
test_body_total_bounds_a_body.timeout = 30


def start_with_stderr_pipe(env, args_extra=(), **kw):
    """A lessongated whose stdout/stderr is a pipe that nobody reads (until the test does)."""
    import harness
    d = env.daemon(wait=False, **kw)
    d.proc.kill()
    d.proc.wait()
    r, w = os.pipe()
    d.proc = subprocess.Popen([env.binary] + list(args_extra) + ["-c", d.conf], stdout=w,
                              stderr=w, stdin=subprocess.DEVNULL)
    os.close(w)
    d.pid = d.proc.pid
    check(harness.wait_port(d.port, 10, d.proc), "lessongated did not listen")
    return d, r


def read_all(fd, timeout=10):
    """Everything written to the pipe until its writers are gone (or timeout)."""
    import select
    out = bytearray()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            b = os.read(fd, 65536)
            if not b:
                break
            out += b
    return out.decode("utf-8", "replace")


def test_unread_log_pipe_never_stalls_requests(env):
    # -d: several lines per request, far more than the pipe and the queue hold.
    d, r = start_with_stderr_pipe(env, ["-d"])
    try:
        failed = 0
        t0 = time.monotonic()
        with HttpConn(d.port, timeout=3) as c:
            for i in range(2000):
                try:
                    if c.request("GET", "/small?i=%d" % i).status != 200:
                        failed += 1
                except (ConnClosed, OSError, TestFailure) as e:
                    check(False, "request %d stalled with the log pipe unread: %s" % (i, e))
        for i in range(200):  # and on new connections
            check(get(d.port, "/small?n=%d" % i, timeout=3).status == 200, "new connection %d" % i)
        check(failed == 0, "%d of 2000 requests failed" % failed)
        note_dt = time.monotonic() - t0
        d.proc.send_signal(15)
        log = read_all(r, 15)
        d.proc.wait(10)
        dropped = [l for l in log.splitlines() if 'msg="log lines dropped"' in l]
        check(dropped and "count=" in dropped[0],
              "no 'log lines dropped' line with a count (%d bytes of log, %.1f s)" %
              (len(log), note_dt))
        total = sum(int(l.split("count=")[1].split()[0]) for l in dropped)
        check(total > 100, "only %d lines dropped" % total)
        # What fit in the queue reached the pipe: the graceful stop's lines are the last ones.
        check('msg="stopped"' in log.splitlines()[-1], "the log does not end with 'stopped': %r" %
              log.splitlines()[-1:])
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        os.close(r)
        d.stop()
test_unread_log_pipe_never_stalls_requests.timeout = 60


def test_client_errors_logged_once_per_interval(env):
    with env.daemon() as d:
        for i in range(60):
            with HttpConn(d.port) as c:
                c.send(b"GET /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                check(c.read_response().status == 400, "a bad request")
        for i in range(5):
            with HttpConn(d.port) as c:
                c.send(b"GET /x\x01 HTTP/1.1\r\nHost: t\r\n\r\n")
                check(c.read_response().status == 400, "a bad request target")
        d.stop()  # the counts are written at exit too
        refused = log_lines(d, "request refused")
        check(not refused, "%d 'request refused' lines for client errors" % len(refused))
        agg = log_lines(d, "client errors (aggregated)")
        check(len(agg) == 1 and "refused_400=65" in agg[0],
              "no single aggregated line counting 65 refusals: %r" % agg)
test_client_errors_logged_once_per_interval.timeout = 30


def closed_at_once(c, timeout=2.0):
    """The proxy closed the connection without answering."""
    try:
        c.send(b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
        c.read_response()
        return False
    except (ConnClosed, OSError, TestFailure):
        return True


def test_connections_per_address_capped_across_workers(env):
    with env.daemon(workers=2, limits={"max_connections_per_address": 3}) as d:
        # The harness's readiness probe was a connection from this address too: its slot is
        # given back when the daemon sees it close, which on a loaded machine may come a
        # moment after the port answered. Wait for that, then hold the 3 allowed ones.
        conns = []
        end = time.monotonic() + 5
        while len(conns) < 3:
            c = HttpConn(d.port)
            try:
                ok = c.request("GET", "/small").status == 200
            except (ConnClosed, OSError):
                ok = False
            if ok:
                conns.append(c)
                continue
            c.close()
            check(time.monotonic() < end,
                  "connection %d within the per-address cap (3) still refused after 5 s" %
                  (len(conns) + 1))
            time.sleep(0.05)
        for i in range(4):
            extra = HttpConn(d.port, timeout=2)
            check(closed_at_once(extra), "connection %d over max_connections_per_address = 3 "
                                         "(2 workers) was served" % (4 + i))
            extra.close()
        # Another client address is not affected.
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", d.port))
        other = HttpConn(d.port, sock=s)
        check(other.request("GET", "/small").status == 200, "a client from 127.0.0.2 was refused")
        other.close()
        conns[0].close()
        ok = False
        for _ in range(20):
            time.sleep(0.1)
            c = HttpConn(d.port, timeout=2)
            try:
                ok = c.request("GET", "/small").status == 200
            except (ConnClosed, OSError, TestFailure):
                pass
            c.close()
            if ok:
                break
        check(ok, "no connection accepted after one of the address's connections closed")
        for c in conns[1:]:
            c.close()
        d.stop()
        agg = log_lines(d, "client errors (aggregated)")
        check(any("refused_per_address=" in l for l in agg),
              "the refused connections are not counted in the log: %r" % agg)
test_connections_per_address_capped_across_workers.timeout = 30


def open_stream(port, student):
    c = HttpConn(port, timeout=5)
    c.send(("GET /.well-known/lessongate/status HTTP/1.1\r\nHost: t\r\n"
            "Accept: text/event-stream\r\nX-Student-Id: %s\r\n\r\n" % student).encode())
    status, _, headers, _ = c.read_head()
    return c, status, headers


def test_status_streams_per_student_capped(env):
    ident = {"header": {"name": "X-Student-Id", "trusted_peers": ["127.0.0.1/32"]}}
    with env.daemon(workers=2, limits={"max_event_streams_per_student": 2},
                    extra={"identity": ident}) as d:
        a1, s1, _ = open_stream(d.port, "stu-a")
        a2, s2, _ = open_stream(d.port, "stu-a")
        check(s1 == 200 and s2 == 200, "two streams within the cap: %d %d" % (s1, s2))
        with HttpConn(d.port) as c:
            r = c.request("GET", "/.well-known/lessongate/status",
                          headers=[("Accept", "text/event-stream"), ("X-Student-Id", "stu-a")])
            check(r.status == 429, "a third stream for one student: %r (want 429)" % r)
            body = r.json()
            check(body.get("error") == "too_many_streams" and body.get("limit") == 2 and
                  "max_event_streams_per_student" in body.get("reason", ""),
                  "the 429 does not say why: %r" % body)
            # The JSON status (not a stream) is not limited.
            r = c.request("GET", "/.well-known/lessongate/status",
                          headers=[("X-Student-Id", "stu-a")])
            check(r.status == 200, "the JSON status with two streams open: %r" % r)
        b1, sb, _ = open_stream(d.port, "stu-b")
        check(sb == 200, "another student's stream: %d" % sb)
        a1.close()
        ok = False
        for _ in range(20):
            time.sleep(0.1)
            a3, s3, _ = open_stream(d.port, "stu-a")
            if s3 == 200:
                ok = True
                break
            a3.close()
        check(ok, "no new stream after one of the student's streams closed")
        for c in (a2, a3, b1):
            c.close()
test_status_streams_per_student_capped.timeout = 30


def test_body_pace_does_not_count_upstream_pauses(env):
    # The origin reads 2 MB a second, the pace asks for 8 MB a second: the client is held back
    # by the upstream (the proxy stops reading it), and that time is not the client's.
    with env.daemon(timeouts={"body": "2s", "body_min_rate": "8M"}) as d:
        n = 20 << 20
        with HttpConn(d.port, timeout=30) as c:
            c.send(b"POST /upload?rate=2000000 HTTP/1.1\r\nHost: t\r\n"
                   b"Content-Length: %d\r\n\r\n" % n)
            chunk = b"y" * (1 << 20)
            t0 = time.monotonic()
            try:
                for _ in range(n >> 20):
                    c.s.sendall(chunk)
            except OSError as e:
                check(False, "the proxy cut the body after %.1f s: %s" % (time.monotonic() - t0, e))
            r = c.read_response()
            dt = time.monotonic() - t0
            check(r.status == 200, "a body the upstream read slowly got %r after %.1f s" % (r, dt))
            check(dt >= 5, "the origin read fast (%.1f s): the test proves nothing" % dt)
test_body_pace_does_not_count_upstream_pauses.timeout = 40
