"""Failures and timeouts: upstream down (502), slow (504), slow-loris (408), idle and body timeouts."""

import socket
import time

from harness import ConnClosed, HttpConn, check, free_port, get


def test_upstream_down_502(env):
    port = free_port()  # nobody listens there
    with env.daemon(upstream={"address": "127.0.0.1:%d" % port}) as d:
        t0 = time.monotonic()
        r = get(d.port, "/small")
        dt = time.monotonic() - t0
        check(r.status == 502, "upstream down: %r (want 502)" % r)
        check(dt < 3, "502 took %.1fs" % dt)
        # The proxy is still fine afterwards.
        r = get(d.port, "/small")
        check(r.status == 502, "second request: %r" % r)


def test_upstream_slow_504(env):
    with env.daemon(upstream={"address": "127.0.0.1:%d" % env.origin().port,
                              "response_timeout": "1s"}) as d:
        t0 = time.monotonic()
        r = get(d.port, "/slow?delay=4", timeout=8)
        dt = time.monotonic() - t0
        check(r.status == 504, "slow upstream: %r (want 504)" % r)
        check(0.8 <= dt <= 3, "504 after %.2fs with response_timeout 1s" % dt)
        r = get(d.port, "/small")
        check(r.status == 200, "after a 504: %r" % r)


def test_upstream_connect_timeout(env):
    # A listener whose accept queue is full: the kernel drops further SYNs, so connect() hangs.
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.2)
        with env.daemon(upstream={"address": "127.0.0.1:%d" % port,
                                  "connect_timeout": "500ms"}) as d:
            t0 = time.monotonic()
            r = get(d.port, "/small", timeout=8)
            dt = time.monotonic() - t0
            check(r.status in (502, 504), "connect timeout: %r (want 502 or 504)" % r)
            check(dt < 3, "answer after %.2fs with connect_timeout 500ms" % dt)
    finally:
        for s in fillers:
            s.close()
        lsock.close()


def test_slowloris_408(env):
    o = env.origin()
    with env.daemon(timeouts={"client_header": "1s"}) as d:
        m = o.mark()
        with HttpConn(d.port, timeout=6) as c:
            t0 = time.monotonic()
            c.send(b"GET /small HTTP/1.1\r\nHost: t\r\n")
            status = None
            drip = b"X-Drip: " + b"a" * 100
            try:
                for i in range(len(drip)):  # one byte every 100 ms: never a full head in time
                    c.send(drip[i:i + 1])
                    c.s.settimeout(0.1)
                    try:
                        b = c.s.recv(65536)
                    except socket.timeout:
                        continue
                    if not b:
                        c.eof = True
                    c.buf += b
                    break
            except (BrokenPipeError, ConnectionResetError):
                pass
            c.s.settimeout(4)
            try:
                r = c.read_response()
                status = r.status
            except ConnClosed:
                pass
            dt = time.monotonic() - t0
            check(status == 408, "slow-loris: answered %r after %.1fs (want 408)" % (status, dt))
            check(dt < 3, "408 after %.1fs with client_header 1s (dripping must not extend it)" % dt)
            check(c.closed_within(2), "connection still open after 408")
        o.assert_nothing_since(m, what="a slow-loris head")


def test_slowloris_408_on_keepalive_connection(env):
    """client_header also bounds a later request's head: armed when its first bytes come in a
    read that does not complete it (a whole head in one read never arms it), not left to the
    much longer keepalive timeout."""
    o = env.origin()
    with env.daemon(timeouts={"client_header": "1s", "keepalive": "30s"}) as d:
        with HttpConn(d.port, timeout=6) as c:
            r = c.request("GET", "/small")
            check(r.status == 200, "%r" % r)
            m = o.mark()
            t0 = time.monotonic()
            c.send(b"GET /small HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            status = None
            try:
                status = c.read_response().status
            except ConnClosed:
                pass
            dt = time.monotonic() - t0
            check(status == 408, "second head: answered %r after %.1fs (want 408)" % (status, dt))
            check(dt < 3, "408 after %.1fs with client_header 1s, keepalive 30s" % dt)
        o.assert_nothing_since(m, what="an unfinished second head")


def test_idle_client_without_request_closed(env):
    with env.daemon(timeouts={"client_header": "1s"}) as d:
        with HttpConn(d.port, timeout=5) as c:
            t0 = time.monotonic()
            check(c.closed_within(4), "an idle connection that sent nothing stayed open")
            check(time.monotonic() - t0 < 3, "idle connection closed only after %.1fs" %
                  (time.monotonic() - t0))


def test_idle_keepalive_closed(env):
    with env.daemon(timeouts={"keepalive": "1s"}) as d:
        with HttpConn(d.port, timeout=5) as c:
            r = c.request("GET", "/small")
            check(r.status == 200, "%r" % r)
            t0 = time.monotonic()
            check(c.closed_within(4), "idle keep-alive connection not closed (keepalive 1s)")
            dt = time.monotonic() - t0
            check(0.5 <= dt <= 3, "closed after %.2fs with keepalive 1s" % dt)
            check(not c.buf or c.buf.startswith(b"HTTP/1.1 408"),
                  "unexpected bytes before close: %r" % bytes(c.buf[:100]))


def test_keepalive_counts_from_the_last_response(env):
    """The keep-alive timeout runs from the end of the last response: a request 0.7 s into a 1.5 s
    idle period moves the close to 1.5 s after its own response, not to 1.5 s after the first."""
    with env.daemon(timeouts={"keepalive": "1500ms"}) as d:
        with HttpConn(d.port, timeout=5) as c:
            check(c.request("GET", "/small").status == 200, "first request")
            time.sleep(0.7)
            check(c.request("GET", "/small").status == 200, "second request")
            t0 = time.monotonic()
            check(not c.closed_within(1.1), "closed %.2fs after the second response (keepalive "
                  "1.5s)" % (time.monotonic() - t0))
            check(c.closed_within(3), "not closed 4 s after the second response (keepalive 1.5s)")
            dt = time.monotonic() - t0
            check(1.3 <= dt <= 2.5, "closed %.2fs after the second response (keepalive 1.5s)" % dt)


def test_response_timeout_after_a_long_keepalive(env):
    """A response timeout shorter than the keep-alive timeout still fires on time on a connection
    that was idle (the keep-alive deadline set before must not delay it)."""
    with env.daemon(timeouts={"keepalive": "20s"},
                    upstream={"address": "127.0.0.1:%d" % env.origin().port,
                              "response_timeout": "1s"}) as d:
        with HttpConn(d.port, timeout=8) as c:
            check(c.request("GET", "/small").status == 200, "first request")
            time.sleep(0.3)
            t0 = time.monotonic()
            r = c.request("GET", "/slow?delay=5")
            dt = time.monotonic() - t0
            check(r.status == 504, "slow upstream after a keep-alive pause: %r (want 504)" % r)
            check(0.8 <= dt <= 2.5, "504 after %.2fs with response_timeout 1s" % dt)


def test_body_progress_timeout(env):
    o = env.origin()
    with env.daemon(timeouts={"body": "1s"}) as d:
        m = o.mark()
        with HttpConn(d.port, timeout=6) as c:
            t0 = time.monotonic()
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
            status = None
            try:
                r = c.read_response()
                status = r.status
            except ConnClosed:
                pass
            dt = time.monotonic() - t0
            check(status in (408, None), "stalled body answered %r (want 408 or a close)" % status)
            check(dt < 4, "stalled body: nothing happened for %.1fs with body 1s" % dt)
            check(c.closed_within(2), "connection left open after a stalled body")
        time.sleep(0.3)
        for r in o.requests_since(m):
            check(not r["complete"], "the origin got a complete request from a stalled body")
        for conn in o.conns(since=m[0]):
            check(conn["closed"] is not None or conn["bytes_in"] == 0,
                  "the upstream connection of the stalled request is still open")


test_upstream_slow_504.timeout = 15
test_slowloris_408.timeout = 15
test_body_progress_timeout.timeout = 15
