"""The upstream side: broken responses become 502 (never forwarded), truncated bodies are never made
to look complete, pooled connections the upstream closed are not a client's problem, and long
responses outlive the response-head timeout."""

import time

from harness import ConnClosed, HttpConn, TestFailure, check, get

# Broken response heads: the proxy must answer 502 itself and forward nothing of them.
BAD_HEADS = ["cl_te", "dup_cl", "bad_cl", "bad_status", "bad_version", "space_colon",
             "nul_header", "http09", "unknown_te"]


def lg(env):
    return env.shared_daemon("upstream", upstream={"address": "127.0.0.1:%d" % env.origin().port,
                                                   "response_timeout": "1s"})


def make_bad_head(kind):
    def t(env):
        d = lg(env)
        with HttpConn(d.port) as c:
            r = c.request("GET", "/badresp?kind=%s" % kind)
            check(r.status == 502, "a broken upstream response (%s) gave %r (want 502)" % (kind, r))
            check(b"hello" not in r.body, "the broken upstream body was forwarded: %r" % r.body[:80])
            check(r.header("x-a") is None, "a header of the broken response was forwarded")
        d.check_alive()
    t.timeout = 15
    return "upstream_bad_response_" + kind, t


def make_truncated(kind):
    def t(env):
        d = lg(env)
        with HttpConn(d.port) as c:
            try:
                r = c.request("GET", "/badresp?kind=%s" % kind)
            except (ConnClosed, TestFailure):
                return  # the client sees the truncation: good
            check(r.status == 502, "a %s upstream body reached the client as a complete %d "
                  "response (%r): the client cannot tell it was cut" % (kind, r.status, r.body[:60]))
        d.check_alive()
    t.timeout = 15
    return "upstream_" + kind + "_not_completed", t


TESTS = [make_bad_head(k) for k in BAD_HEADS]
TESTS += [make_truncated(k) for k in ("bad_chunk", "short_body", "truncated_chunked")]


def early_hints(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        r = c.request("GET", "/badresp?kind=early_hints")
        check(r.status == 200 and r.body == b"final\n", "103 then 200: %r" % r)


def pooled_connection_closed_by_upstream(env):
    d = lg(env)
    for i in range(3):
        r = get(d.port, "/small?idle_close=0.2&i=%d" % i)
        check(r.status == 200, "request %d: %r" % (i, r))
        time.sleep(0.5)  # the upstream closed the pooled connection meanwhile
    with HttpConn(d.port) as c:
        for i in range(3):
            r = c.request("GET", "/small?idle_close=0.2&j=%d" % i)
            check(r.status == 200, "keep-alive request %d after an upstream idle close: %r" % (i, r))
            time.sleep(0.5)


def upstream_connection_close_header(env):
    d = lg(env)
    o = env.origin()
    m = o.mark()
    with HttpConn(d.port) as c:
        for i in range(4):  # the origin answers each with Connection: close and closes
            r = c.request("GET", "/small?close=1&i=%d" % i)
            check(r.status == 200 and r.body == b"hello from A\n", "request %d: %r" % (i, r))
        check(not c.closed_within(0.2), "the upstream's Connection: close closed the client too")
    new, _ = o.since(m)
    check(new >= 4, "only %d upstream connections for 4 answers that said Connection: close" % new)


def long_response_outlives_response_timeout(env):
    d = lg(env)  # response_timeout 1s: it bounds the wait for the head, not the whole body
    with HttpConn(d.port, timeout=6) as c:
        t0 = time.monotonic()
        r = c.request("GET", "/sse?n=6&interval=0.4")
        dt = time.monotonic() - t0
    check(r.status == 200, "%r" % r)
    check(r.body.count(b"data: tick") == 6, "got %d of 6 events over %.1fs with response_timeout 1s" %
          (r.body.count(b"data: tick"), dt))


def slow_body_chunks_within_body_timeout(env):
    d = lg(env)
    with HttpConn(d.port, timeout=6) as c:
        r = c.request("GET", "/slowbody?delay=0.6&n=10")
        check(r.status == 200 and r.body == b"x" * 10, "%r" % r)


def http10_client_gets_dechunked_body(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        c.send(b"GET /chunked?n=5000&size=700 HTTP/1.0\r\n\r\n")
        status, _, headers, version = c.read_head()
        check(status == 200, "status %d" % status)
        h = {k.lower(): v for k, v in headers}
        check("transfer-encoding" not in h, "chunked sent to an HTTP/1.0 client")
        body = bytearray()
        try:
            while True:
                if c.buf:
                    body += c.buf
                    c.buf.clear()
                c._fill()
        except ConnClosed:
            pass
    from test_http import pattern
    check(bytes(body) == pattern(5000), "HTTP/1.0 body: %d bytes, %r..." % (len(body), bytes(body[:20])))


def client_half_close_still_answered(env):
    import socket
    d = lg(env)
    with HttpConn(d.port) as c:
        c.send(b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
        c.s.shutdown(socket.SHUT_WR)
        r = c.read_response()
        check(r.status == 200 and r.body == b"hello from A\n", "after a half-close: %r" % r)


def websocket_idle_tunnel_survives_http_timeouts(env):
    import asyncio
    import websockets
    with env.daemon(timeouts={"client_header": "1s", "keepalive": "1s", "body": "1s"},
                    upstream={"address": "127.0.0.1:%d" % env.origin().port,
                              "response_timeout": "1s"}) as d:
        async def go():
            async with websockets.connect("ws://127.0.0.1:%d/ws" % d.port, open_timeout=5,
                                          ping_interval=None, close_timeout=2) as ws:
                await ws.send("before")
                check(await asyncio.wait_for(ws.recv(), 3) == "before", "echo")
                await asyncio.sleep(2.5)
                await ws.send("after")
                check(await asyncio.wait_for(ws.recv(), 3) == "after",
                      "echo after 2.5 s of silence")
        try:
            asyncio.run(asyncio.wait_for(go(), 12))
        except websockets.ConnectionClosed as e:
            check(False, "an idle tunnel was closed by an HTTP timeout (code %s)" % e.code)


def ipv6_listener(env):
    import json
    import socket
    from harness import Skip, curl, wait_port
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        port = s.getsockname()[1]
        s.close()
    except OSError:
        raise Skip("no IPv6 loopback here")
    with env.daemon(listen_extra=[{"address": "[::1]:%d" % port}]):
        check(wait_port(port, 5, host="::1"), "nothing listens on [::1]:%d" % port)
        rc, out, err = curl("-g", "http://[::1]:%d/echo" % port)
        check(rc == 0, "curl over IPv6: %s" % err)
        e = json.loads(out)
        h = {k.lower(): v for k, v in e["headers"]}
        check("::1" in h.get("x-forwarded-for", "") + h.get("forwarded", ""),
              "the origin was not told the client was ::1: %r" % h)


def pooled_upstream_closed_after_keepalive(env):
    """An idle pooled upstream connection lives timeouts.keepalive, whatever timeouts.body is: it
    outlives a shorter body timeout, and a longer one does not keep it."""
    o = env.origin()
    for keepalive, body in ((2.0, 1.0), (1.0, 6.0)):
        with env.daemon(timeouts={"keepalive": "%gs" % keepalive, "body": "%gs" % body}) as d:
            m = o.mark()
            r = get(d.port, "/small?pool=%g" % keepalive)  # the client closes; the upstream is pooled
            check(r.status == 200, "%r" % r)
            conns = [c for c in o.conns(m[0]) if c["requests"]]
            check(len(conns) == 1, "one upstream connection expected, got %r" % conns)
            cid = conns[0]["id"]
            time.sleep(keepalive * 0.75)
            c = o.conn(cid)
            check(c["closed"] is None, "the pooled connection closed %.2fs after its request "
                  "(keepalive %gs, body %gs)" % ((c["closed"] or 0) - m[2], keepalive, body))
            deadline = time.time() + keepalive + 2
            while time.time() < deadline and o.conn(cid)["closed"] is None:
                time.sleep(0.05)
            c = o.conn(cid)
            check(c["closed"] is not None, "the pooled connection was still open %.1fs after its "
                  "request (keepalive %gs, body %gs)" % (time.time() - m[2], keepalive, body))
            idle = c["closed"] - m[2]
            check(keepalive - 0.1 <= idle <= keepalive + 1.0,
                  "the pooled connection closed %.2fs after its request (keepalive %gs, body %gs)"
                  % (idle, keepalive, body))
            # Reused after the expiry: a new connection, answered.
            r = get(d.port, "/small?again=1")
            check(r.status == 200, "after the pooled connection expired: %r" % r)


for f in (early_hints, pooled_connection_closed_by_upstream, pooled_upstream_closed_after_keepalive,
          upstream_connection_close_header,
          long_response_outlives_response_timeout, slow_body_chunks_within_body_timeout,
          http10_client_gets_dechunked_body, client_half_close_still_answered,
          websocket_idle_tunnel_survives_http_timeouts, ipv6_listener):
    f.timeout = 20
    TESTS.append((f.__name__, f))
