"""HTTP/1.1 through the proxy: keep-alive, pipelining, chunked both ways, 100-continue, framing."""

import hashlib
import os
import time

from harness import HttpConn, check, curl, get

PATTERN_LEN = 65536
PATTERN = bytes((i * 7 + 13 + (i >> 8)) & 0xFF for i in range(PATTERN_LEN))


def pattern(n):
    return (PATTERN * (n // PATTERN_LEN + 1))[:n]


def lg(env):
    return env.shared_daemon("http")


def test_small_get_with_curl(env):
    d = lg(env)
    rc, out, err = curl("-i", "http://127.0.0.1:%d/small" % d.port)
    check(rc == 0, "curl failed: %s" % err)
    check(out.startswith(b"HTTP/1.1 200"), "status: %r" % out[:60])
    check(out.endswith(b"hello from A\n"), "body: %r" % out[-60:])


def test_keepalive_client_connection_reused(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        for i in range(5):
            r = c.request("GET", "/small?i=%d" % i)
            check(r.status == 200, "request %d: %r" % (i, r))
            check(r.body == b"hello from A\n", "request %d body %r" % (i, r.body))
        check(not c.closed_within(0.2), "the proxy closed a keep-alive connection")


def test_keepalive_upstream_pool(env):
    d = lg(env)
    o = env.origin()
    get(d.port, "/small")  # warm the pool
    time.sleep(0.1)
    m = o.mark()
    for i in range(10):
        r = get(d.port, "/small?n=%d" % i)  # a new client connection each time
        check(r.status == 200, "request %d: %r" % (i, r))
    new, _ = o.since(m)
    check(new <= 1, "10 sequential requests opened %d new upstream connections "
                    "(upstream keep-alive not reused)" % new)


def test_http10_client_gets_response_and_close(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        c.send(b"GET /small HTTP/1.0\r\n\r\n")
        r = c.read_response()
        check(r.status == 200 and r.body == b"hello from A\n", "HTTP/1.0: %r" % r)
        check(c.closed_within(2), "HTTP/1.0 request without keep-alive: connection left open")


def test_connection_close_honoured(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        r = c.request("GET", "/small", headers=[("Connection", "close")])
        check(r.status == 200, "%r" % r)
        check(c.closed_within(2), "Connection: close: the proxy kept the connection open")


def test_pipelined_requests_answered_in_order(env):
    d = lg(env)
    reqs = (b"GET /slow?delay=0.4&id=1 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /echo?id=2 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /small?id=3 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /chunked?n=3000&size=100&id=4 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /echo?id=5 HTTP/1.1\r\nHost: t\r\n\r\n")
    with HttpConn(d.port, timeout=8) as c:
        c.send(reqs)
        r1 = c.read_response()
        r2 = c.read_response()
        r3 = c.read_response()
        r4 = c.read_response()
        r5 = c.read_response()
    check(r1.status == 200 and r1.body.startswith(b"slow hello"), "1st: %r" % r1)
    check(r2.status == 200 and r2.json()["target"] == "/echo?id=2" and r2.json()["body"] == "hello",
          "2nd: %r" % r2)
    check(r3.status == 200 and r3.body == b"hello from A\n", "3rd: %r" % r3)
    check(r4.status == 200 and r4.body == pattern(3000), "4th: %r" % r4)
    check(r5.status == 200 and r5.json()["target"] == "/echo?id=5", "5th: %r" % r5)


def test_chunked_request_body(env):
    d = lg(env)
    body = os.urandom(70000)
    parts = [body[:1], body[1:4097], body[4097:60000], body[60000:]]
    raw = b"".join(b"%x;ext=1\r\n" % len(p) + p + b"\r\n" for p in parts) + b"0\r\nX-Trailer: t\r\n\r\n"
    with HttpConn(d.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + raw)
        r = c.read_response()
        check(r.status == 200, "%r" % r)
        e = r.json()
        check(e["body_bytes"] == len(body), "origin got %d bytes, sent %d" % (e["body_bytes"], len(body)))
        check(e["body_sha256"] == hashlib.sha256(body).hexdigest(), "the body changed on the way")
        # The connection is still usable: the proxy found the end of the chunked body.
        r = c.request("GET", "/small")
        check(r.status == 200, "request after a chunked body: %r" % r)


def test_chunked_request_trailers_not_forwarded(env):
    """Request trailers never reach the origin (the gate did not see them): the body arrives
    whole and ends with the last-chunk and an empty trailer section; the connection goes on."""
    d = lg(env)
    o = env.origin()
    body = os.urandom(5000)
    mark = o.mark()
    raw = (b"%x\r\n" % len(body) + body + b"\r\n0\r\nX-Original-URL: /live/x\r\n"
           b"Authorization: Bearer smuggled\r\n\r\n")
    with HttpConn(d.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTrailer: X-Original-URL\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + raw)
        r = c.read_response()
        check(r.status == 200, "%r" % r)
        e = r.json()
        check(e["body_sha256"] == hashlib.sha256(body).hexdigest(), "the body changed on the way")
        check(e["trailers"] == [], "the origin received request trailers: %r" % e["trailers"])
        # Pieces: the trailer section split across writes, then an empty one.
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\nabc\r\n0\r\nX-A")
        time.sleep(0.05)
        c.send(b": 1\r\n")
        time.sleep(0.05)
        c.send(b"\r\n")
        r = c.read_response()
        check(r.status == 200 and r.json()["body"] == "abc" and r.json()["trailers"] == [],
              "split trailers: %r" % r)
        r = c.request("GET", "/small")
        check(r.status == 200, "request after a body with trailers: %r" % r)
    data = "".join(x["data"] for x in o.conns(full=True) if x["id"] >= mark[0])
    check("smuggled" not in data and "X-A:" not in data,
          "trailer bytes reached the origin: %r" % data[-300:])


def test_chunked_request_body_in_small_pieces(env):
    d = lg(env)
    body = b"0123456789" * 50
    raw = (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"1f4\r\n" + body + b"\r\n0\r\n\r\n")
    with HttpConn(d.port) as c:
        for i in range(0, len(raw), 7):  # split across many writes
            c.send(raw[i:i + 7])
            time.sleep(0.002)
        r = c.read_response()
    check(r.status == 200 and r.json()["body_bytes"] == 500, "%r" % r)


def test_chunked_request_with_curl(env):
    d = lg(env)
    path = os.path.join(env.dir, "upload.bin")
    data = os.urandom(300000)
    with open(path, "wb") as f:
        f.write(data)
    rc, out, err = curl("-H", "Transfer-Encoding: chunked", "--data-binary", "@" + path,
                        "http://127.0.0.1:%d/echo" % d.port)
    check(rc == 0, "curl: %s" % err)
    import json
    e = json.loads(out)
    check(e["body_sha256"] == hashlib.sha256(data).hexdigest(), "body changed: %r" % e["body_bytes"])


def test_chunked_response(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        r = c.request("GET", "/chunked?n=200000&size=777")
        check(r.status == 200 and r.body == pattern(200000), "chunked response: %r" % r)
        r = c.request("GET", "/chunked?n=5000&size=1000&trailer=1")
        check(r.status == 200 and r.body == pattern(5000), "chunked response with trailer: %r" % r)
        r = c.request("GET", "/small")
        check(r.status == 200, "request after chunked responses: %r" % r)


def test_close_delimited_response(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        r = c.request("GET", "/close?n=300000")
        check(r.status == 200, "%r" % r)
        check(r.body == pattern(300000), "read-until-close body: %d bytes" % len(r.body))


def test_head_response_has_no_body(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        r = c.request("HEAD", "/cl?n=1000")
        check(r.status == 200, "%r" % r)
        check(r.header("content-length") in ("1000", None), "HEAD Content-Length %r" %
              r.header("content-length"))
        r = c.request("HEAD", "/chunked?n=1000")
        check(r.status == 200, "HEAD of a chunked resource: %r" % r)
        r = c.request("GET", "/small")
        check(r.status == 200 and r.body == b"hello from A\n",
              "request after HEAD (framing broken?): %r" % r)


def test_204_and_304_have_no_body(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        r = c.request("GET", "/status?code=204")
        check(r.status == 204, "%r" % r)
        r = c.request("GET", "/status?code=304", headers=[("If-None-Match", '"v1"')])
        check(r.status == 304, "%r" % r)
        check(r.header("etag") == '"v1"', "304 lost its ETag")
        r = c.request("GET", "/small")
        check(r.status == 200 and r.body == b"hello from A\n",
              "request after 204/304 (framing broken?): %r" % r)


def test_empty_content_length_response_then_next_request(env):
    """Content-Length: 0 (a 303 after a sign-in form, an empty 200) is a whole response:
    the next request on the connection is answered (it once hung waiting for body bytes)."""
    d = lg(env)
    with HttpConn(d.port) as c:
        for i in range(2):
            r = c.request("GET", "/cl?n=0&i=%d" % i)
            check(r.status == 200 and r.body == b"" and r.header("content-length") == "0",
                  "empty response %d: %r" % (i, r))
        r = c.request("GET", "/small")
        check(r.status == 200 and r.body == b"hello from A\n",
              "request after an empty Content-Length response: %r" % r)


def test_expect_100_continue(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n"
               b"Expect: 100-continue\r\n\r\n")
        c.s.settimeout(3)
        status, _, _, _ = c.read_head()
        check(status == 100, "expected 100 Continue before sending the body, got %d" % status)
        c.send(b"hello world")
        r = c.read_response()
        check(r.status == 200 and r.json()["body"] == "hello world", "%r" % r)
        r = c.request("GET", "/small")
        check(r.status == 200, "after 100-continue: %r" % r)


def test_expect_100_continue_with_curl(env):
    d = lg(env)
    path = os.path.join(env.dir, "expect.bin")
    with open(path, "wb") as f:
        f.write(b"x" * 5000)
    rc, out, err = curl("-H", "Expect: 100-continue", "--expect100-timeout", "3",
                        "--data-binary", "@" + path, "-w", "\n%{time_total}",
                        "http://127.0.0.1:%d/echo" % d.port)
    check(rc == 0, "curl: %s" % err)
    body, _, t = out.rpartition(b"\n")
    import json
    check(json.loads(body)["body_bytes"] == 5000, "body: %r" % body[:200])
    check(float(t) < 2.5, "curl waited %.1fs: no 100 Continue came" % float(t))


def test_expect_100_final_status_without_body(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        c.send(b"POST /expect-reject HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n"
               b"Expect: 100-continue\r\n\r\n")
        c.s.settimeout(4)
        r = c.read_response()
        check(r.status == 417, "the origin's final answer should reach the client: %r" % r)


def test_hop_by_hop_request_headers_removed(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        r = c.request("GET", "/echo", headers=[
            ("Connection", "keep-alive, X-Secret"), ("X-Secret", "drop me"),
            ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
            ("X-End-To-End", "keep me")])
    check(r.status == 200, "%r" % r)
    h = {k.lower(): v for k, v in r.json()["headers"]}
    for gone in ("x-secret", "keep-alive", "proxy-connection"):
        check(gone not in h, "%s reached the origin" % gone)
    check(h.get("x-end-to-end") == "keep me", "end-to-end header lost")
    conn = h.get("connection", "").lower()
    check("x-secret" not in conn, "Connection: %r reached the origin" % conn)


def test_forwarding_headers_added(env):
    d = lg(env)
    r = get(d.port, "/echo")
    check(r.status == 200, "%r" % r)
    h = {}
    for k, v in r.json()["headers"]:
        h.setdefault(k.lower(), []).append(v)
    xff = ",".join(h.get("x-forwarded-for", []))
    fwd = ",".join(h.get("forwarded", []))
    check("127.0.0.1" in xff or "for=127.0.0.1" in fwd or 'for="127.0.0.1' in fwd,
          "neither X-Forwarded-For nor Forwarded names the client: %r" % h)
    xfp = ",".join(h.get("x-forwarded-proto", []))
    check("http" in xfp or "proto=http" in fwd, "no X-Forwarded-Proto / Forwarded proto: %r" % h)
    check(any("1.1" in v for v in h.get("via", [])), "no Via: 1.1 ...: %r" % h.get("via"))
    check(len(h.get("host", [])) == 1 and h["host"][0] == "test.local", "Host: %r" % h.get("host"))


def test_hop_by_hop_response_headers_removed(env):
    d = lg(env)
    r = get(d.port, "/hop")
    check(r.status == 200, "%r" % r)
    check(r.header("x-up-secret") is None, "X-Up-Secret (named in Connection) reached the client")
    check(r.header("keep-alive") != "timeout=5", "upstream Keep-Alive reached the client")
    check(r.header("x-end-to-end") == "kept", "end-to-end response header lost")


def test_absolute_form_target_wins_over_host(env):
    d = lg(env)
    with HttpConn(d.port) as c:
        c.send(b"GET http://abs.example:8080/echo?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n")
        r = c.read_response()
    check(r.status == 200, "%r" % r)
    e = r.json()
    hosts = [v for k, v in e["headers"] if k.lower() == "host"]
    check(hosts == ["abs.example:8080"], "origin saw Host %r (want abs.example:8080)" % hosts)
    check(e["target"] == "/echo?q=1", "origin saw target %r (want origin-form)" % e["target"])


def test_upstream_closes_without_answer_502(env):
    d = lg(env)
    r = get(d.port, "/drop")
    check(r.status == 502, "an upstream that closes without answering should give 502: %r" % r)


def test_many_headers_pass(env):
    d = lg(env)
    hdrs = [("X-Many-%d" % i, "v" * 40) for i in range(60)]
    with HttpConn(d.port) as c:
        r = c.request("GET", "/echo", headers=hdrs)
    check(r.status == 200, "%r" % r)
    got = [k for k, _ in r.json()["headers"] if k.startswith("X-Many-")]
    check(len(got) == 60, "origin got %d of 60 headers" % len(got))


def test_large_request_and_response_with_curl(env):
    d = lg(env)
    path = os.path.join(env.dir, "big-upload.bin")
    data = os.urandom(3 << 20)
    with open(path, "wb") as f:
        f.write(data)
    rc, out, err = curl("--data-binary", "@" + path, "http://127.0.0.1:%d/echo" % d.port)
    check(rc == 0, "curl upload: %s" % err)
    import json
    check(json.loads(out)["body_sha256"] == hashlib.sha256(data).hexdigest(), "upload changed")
    rc, out, err = curl("http://127.0.0.1:%d/cl?n=%d" % (d.port, 5 << 20))
    check(rc == 0 and out == pattern(5 << 20), "5 MiB download: rc=%d len=%d" % (rc, len(out)))
