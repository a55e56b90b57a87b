"""WebSocket through the proxy: echo, origin close, and a proxy-initiated close seen by both ends.

The proxy-initiated close uses the daemon's test hook: a listener with
`test_hooks = true;` honours the request header

    Lessongate-Test-Close: <delay> <code> <reason>     (delay: "600ms", "2s" or plain ms)

by closing the WebSocket tunnel <ms> after the 101 (or ending a streamed
response <ms> after its head) at a frame (chunk) boundary, sending a Close
frame with <code> and <reason> to both the client and the upstream. Without
test_hooks the header is ignored. (HOOK below is the one place that spells it.)
"""

import asyncio
import time

import websockets

from harness import ConnClosed, HttpConn, check, ws_key

HOOK = "Lessongate-Test-Close"


def hook_value(ms, code, reason):
    return "%dms %d %s" % (ms, code, reason)


def lg(env, hooks=False):
    return env.shared_daemon("ws-hooks" if hooks else "ws", test_hooks=hooks)


def arun(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def url(d, path="/ws"):
    return "ws://127.0.0.1:%d%s" % (d.port, path)


def connect(d, path="/ws", headers=()):
    return websockets.connect(url(d, path), extra_headers=list(headers), open_timeout=5,
                              close_timeout=3, ping_interval=None, max_size=None)


def last_ws_conn(o, since):
    conns = [c for c in o.conns(since=since) if c["ws"]]
    return conns[-1] if conns else None


def upgrade_request(path):
    """A raw WebSocket upgrade request for path."""
    return ("GET %s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, ws_key()))


def upstream_closed(o, m, what):
    """Within 5 s, the last WebSocket the origin accepted since mark m is closed."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        c2 = last_ws_conn(o, m[0])
        if c2 and c2["closed"]:
            return
        time.sleep(0.1)
    check(False, "the upstream WebSocket stayed open %s" % what)


def test_websocket_echo(env):
    d = lg(env)
    o = env.origin()
    m = o.mark()

    async def go():
        async with connect(d) as ws:
            await ws.send("hello")
            check(await ws.recv() == "hello", "text echo")
            await ws.send(b"\x00\x01\xff" * 1000)
            check(await ws.recv() == b"\x00\x01\xff" * 1000, "binary echo")
            big = bytes(range(256)) * 8192  # 2 MiB
            await ws.send(big)
            check(await ws.recv() == big, "2 MiB message echo")
            await ws.send(["frag", "mented", " message"])  # one message in three frames
            check(await ws.recv() == "fragmented message", "fragmented echo")
            pong = await ws.ping(b"p")
            await asyncio.wait_for(pong, 3)
            await ws.close(1000, "bye")

    arun(go())
    time.sleep(0.3)
    c = last_ws_conn(o, m[0])
    check(c is not None, "the origin saw no WebSocket")
    check(c["ws"]["close_code_in"] == 1000, "origin got close code %r (want the client's 1000)" %
          c["ws"]["close_code_in"])
    req = c["requests"][0]
    h = {k.lower(): v for k, v in req["headers"]}
    check("websocket" in h.get("upgrade", "").lower(), "Upgrade not forwarded: %r" % h)
    check("upgrade" in h.get("connection", "").lower(), "Connection: upgrade not forwarded: %r" % h)


def test_websocket_many_concurrent(env):
    d = lg(env)

    async def one(i):
        async with connect(d) as ws:
            for k in range(20):
                msg = "c%d-m%d" % (i, k)
                await ws.send(msg)
                got = await ws.recv()
                check(got == msg, "conn %d got %r for %r" % (i, got, msg))

    async def go():
        await asyncio.gather(*(one(i) for i in range(50)))

    arun(go())


def test_websocket_origin_close_reaches_client(env):
    d = lg(env)

    async def go():
        async with connect(d, "/ws-close?after=2&code=4003") as ws:
            await ws.send("a")
            await ws.recv()
            await ws.send("b")
            await ws.recv()
            try:
                await asyncio.wait_for(ws.recv(), 5)
                check(False, "no close from the origin")
            except websockets.ConnectionClosed as e:
                check(e.code == 4003, "client saw close code %r (want the origin's 4003)" % e.code)

    arun(go())


def test_websocket_client_abort_closes_upstream(env):
    d = lg(env)
    o = env.origin()
    m = o.mark()
    with HttpConn(d.port) as c:
        c.send(upgrade_request("/ws"))
        status, _, _, _ = c.read_head()
        check(status == 101, "upgrade: %d" % status)
    # The client vanished without a Close frame: the upstream side must be closed too.
    upstream_closed(o, m, "after the client went away")


def test_websocket_half_close_before_101(env):
    """A client that half-closes right after its upgrade request gets the 101, then the
    tunnel ends (as an EOF inside it ends it) and the upstream side is closed too."""
    import socket
    d = lg(env)
    o = env.origin()
    m = o.mark()
    with HttpConn(d.port) as c:
        c.send(upgrade_request("/ws"))
        c.s.shutdown(socket.SHUT_WR)
        status, _, _, _ = c.read_head()
        check(status == 101, "upgrade after a half-close: %d" % status)
        t0 = time.monotonic()
        try:
            c._fill()
            check(False, "bytes after the 101 from a tunnel whose client half-closed: %r" %
                  bytes(c.buf[:80]))
        except ConnClosed:
            pass
        check(time.monotonic() - t0 < 3, "the tunnel stayed open %.1f s" % (time.monotonic() - t0))
    upstream_closed(o, m, "after the client half-closed")


def test_websocket_upgrade_refused_by_origin(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        c.send(upgrade_request("/nows"))
        r = c.read_response()
        check(r.status == 404, "a refused upgrade should pass the origin's 404: %r" % r)
        try:
            r = c.request("GET", "/small")
            check(r.status == 200, "after a refused upgrade: %r" % r)
        except Exception:
            pass  # closing after a refused upgrade is allowed


def test_proxy_initiated_close_seen_by_both_ends(env):
    d = lg(env, hooks=True)
    o = env.origin()
    m = o.mark()

    async def go():
        t0 = time.monotonic()
        async with connect(d, headers=[(HOOK, hook_value(600, 4001, "lesson_limit"))]) as ws:
            n = 0
            try:
                while True:
                    await ws.send("tick %d" % n)
                    got = await asyncio.wait_for(ws.recv(), 5)
                    check(got == "tick %d" % n, "echo %r for tick %d" % (got, n))
                    n += 1
                    await asyncio.sleep(0.05)
                    check(time.monotonic() - t0 < 5, "the proxy never closed the tunnel")
            except websockets.ConnectionClosed as e:
                dt = time.monotonic() - t0
                check(e.code == 4001, "client saw close code %r (want 4001)" % e.code)
                check(e.reason == "lesson_limit", "client saw reason %r" % e.reason)
                check(0.4 <= dt <= 3, "closed after %.2fs (hook 600 ms)" % dt)
                check(n >= 3, "only %d echoes before the close" % n)

    arun(go())
    time.sleep(0.5)
    c = last_ws_conn(o, m[0])
    check(c is not None, "the origin saw no WebSocket")
    check(c["ws"]["close_code_in"] == 4001, "the origin got close code %r (want 4001)" %
          c["ws"]["close_code_in"])
    check(c["closed"] is not None, "the upstream connection is still open")
    hdrs = [k.lower() for k, _ in c["requests"][0]["headers"]]
    check(HOOK.lower() not in hdrs, "the test hook header reached the origin")


def test_proxy_close_at_frame_boundary_under_load(env):
    d = lg(env, hooks=True)
    o = env.origin()
    m = o.mark()

    async def go():
        big = bytes(range(256)) * 2048  # 512 KiB frames in flight both ways when the hook fires
        async with connect(d, headers=[(HOOK, hook_value(300, 4002, "day_end"))]) as ws:
            sender_done = asyncio.Event()

            async def sender():
                try:
                    for _ in range(200):
                        await ws.send(big)
                except websockets.ConnectionClosed:
                    pass
                sender_done.set()

            task = asyncio.ensure_future(sender())
            got = 0
            try:
                while True:
                    msg = await asyncio.wait_for(ws.recv(), 5)
                    check(msg == big, "a message arrived cut or changed (%d bytes)" % len(msg))
                    got += 1
            except websockets.ConnectionClosed as e:
                check(e.code == 4002, "client saw close code %r (want 4002: a Close frame in the "
                      "middle of a data frame shows up as 1002/1006)" % e.code)
            await asyncio.wait_for(task, 5)

    arun(go())
    time.sleep(0.5)
    c = last_ws_conn(o, m[0])
    check(c is not None and c["ws"]["close_code_in"] == 4002,
          "the origin got close code %r (want 4002)" % (c and c["ws"]["close_code_in"]))


def test_proxy_ends_sse_stream_cleanly(env):
    d = lg(env, hooks=True)
    with HttpConn(d.port, timeout=5) as c:
        t0 = time.monotonic()
        c.send("GET /sse?n=0&interval=0.1 HTTP/1.1\r\nHost: t\r\n%s: %s\r\n\r\n" %
               (HOOK, hook_value(700, 4001, "lesson_limit")))
        r = c.read_response()  # must end: last-chunk (or close), not hang
        dt = time.monotonic() - t0
        check(r.status == 200, "%r" % r)
        check(0.5 <= dt <= 3, "the stream ended after %.2fs (hook 700 ms)" % dt)
        check(r.body.count(b"data: tick") >= 3, "only %d events before the end" %
              r.body.count(b"data: tick"))
        check(r.body.endswith(b"\n\n"), "the stream was cut inside an event: %r" % r.body[-40:])


def test_hook_header_ignored_without_test_hooks(env):
    d = lg(env, hooks=False)

    async def go():
        async with connect(d, headers=[(HOOK, hook_value(200, 4001, "lesson_limit"))]) as ws:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 1.0:
                await ws.send("x")
                check(await asyncio.wait_for(ws.recv(), 3) == "x", "echo")
                await asyncio.sleep(0.05)

    arun(go())


test_websocket_many_concurrent.timeout = 30
