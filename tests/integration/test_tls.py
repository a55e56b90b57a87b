"""TLS to the client (TLS 1.2/1.3 only, ALPN http/1.1, SNI) and to the upstream (verified, SNI)."""

import asyncio
import socket
import ssl
import warnings

import websockets

from harness import HttpConn, check, curl


def tls_conf(env, sni=True):
    cert, key = env.certs.server("gate.test")
    t = {"certificate": cert, "key": key}
    if sni:
        c2, k2 = env.certs.server("other.test")
        t["sni"] = [{"certificate": c2, "key": k2}]
    return t


def lg(env):
    return env.shared_daemon("tls", tls=tls_conf(env))


def test_tls_client_with_curl(env):
    d = lg(env)
    rc, out, err = curl("--cacert", env.certs.ca, "--resolve", "gate.test:%d:127.0.0.1" % d.tls_port,
                        "https://gate.test:%d/small" % d.tls_port)
    check(rc == 0, "curl over TLS: %s" % err)
    check(out == b"hello from A\n", "body %r" % out)


def test_tls_forwarded_proto_https(env):
    d = lg(env)
    with HttpConn(d.tls_port, tls_ctx=env.certs.client_context(), server_hostname="gate.test") as c:
        r = c.request("GET", "/echo")
    check(r.status == 200, "%r" % r)
    h = {k.lower(): v for k, v in r.json()["headers"]}
    check("https" in h.get("x-forwarded-proto", "") or "proto=https" in h.get("forwarded", ""),
          "the origin was not told the client used https: %r" % h)


def test_tls_keepalive_and_pipelining(env):
    d = lg(env)
    with HttpConn(d.tls_port, tls_ctx=env.certs.client_context(), server_hostname="gate.test") as c:
        c.send(b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n" * 3)
        for i in range(3):
            r = c.read_response()
            check(r.status == 200 and r.body == b"hello from A\n", "pipelined %d: %r" % (i, r))
        r = c.request("GET", "/cl?n=1000000")
        check(r.status == 200 and len(r.body) == 1000000, "1 MB over TLS: %r" % r)


def handshake(port, hostname, minv=None, maxv=None, alpn=None, ctx=None):
    ctx = ctx or ssl.create_default_context()
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    if alpn:
        ctx.set_alpn_protocols(alpn)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        t = ctx.wrap_socket(s, server_hostname=hostname)
    except Exception:
        s.close()
        raise
    return t


def test_tls_versions_and_alpn(env):
    d = lg(env)
    for v, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        t = handshake(d.tls_port, "gate.test", minv=v, maxv=v, ctx=env.certs.client_context())
        check(t.version() == name, "asked for %s, got %s" % (name, t.version()))
        t.close()
    t = handshake(d.tls_port, "gate.test", alpn=["h2", "http/1.1"], ctx=env.certs.client_context())
    check(t.selected_alpn_protocol() == "http/1.1",
          "ALPN chose %r (want http/1.1)" % t.selected_alpn_protocol())
    t.close()
    # TLS 1.1 and older must be refused (client side opened up as far as OpenSSL 3 allows).
    warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1/TLSv1_1 are deprecated: that's the point
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ssl.SSLError, ValueError):
        return
    try:
        t = handshake(d.tls_port, "gate.test", ctx=ctx)
        v = t.version()
        t.close()
        check(False, "the proxy accepted %s" % v)
    except (ssl.SSLError, ConnectionError, OSError):
        pass


def peer_cn(port, hostname, env):
    ctx = ssl.create_default_context(cafile=env.certs.ca)
    ctx.check_hostname = False
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t = ctx.wrap_socket(s, server_hostname=hostname)
    cert = t.getpeercert()
    t.close()
    return dict(x[0] for x in cert["subject"])["commonName"]


def test_sni_selects_certificate(env):
    d = lg(env)
    check(peer_cn(d.tls_port, "gate.test", env) == "gate.test", "gate.test got the wrong certificate")
    check(peer_cn(d.tls_port, "other.test", env) == "other.test",
          "SNI other.test did not select the other.test certificate")
    check(peer_cn(d.tls_port, "unknown.test", env) == "gate.test",
          "an unknown SNI name should get the default certificate")
    check(peer_cn(d.tls_port, None, env) == "gate.test", "no SNI should get the default certificate")
    # And requests work under either name.
    for name in ("gate.test", "other.test"):
        rc, out, err = curl("--cacert", env.certs.ca, "--resolve", "%s:%d:127.0.0.1" % (name, d.tls_port),
                            "https://%s:%d/small" % (name, d.tls_port))
        check(rc == 0 and out == b"hello from A\n", "curl to %s: %s" % (name, err))


def test_tls_upstream_verified_with_sni(env):
    o = env.origin("T", tls=True)
    up = {"address": "127.0.0.1:%d" % o.tls_port,
          "tls": {"ca": env.certs.ca, "server_name": "origin.test"}}
    with env.daemon(upstream=up) as d:
        with HttpConn(d.port) as c:
            r = c.request("GET", "/echo")
            check(r.status == 200, "TLS upstream: %r" % r)
            e = r.json()
            check(e["listener"] == "tls", "the origin saw a plain connection")
            check(e["sni"] == "origin.test", "the origin saw SNI %r (want origin.test)" % e["sni"])
            r = c.request("POST", "/echo", body=b"z" * 300000)
            check(r.status == 200 and r.json()["body_bytes"] == 300000, "POST over TLS upstream: %r" % r)
    conns = [x for x in o.conns() if x["listener"] == "tls"]
    check(conns and conns[-1]["alpn"] in (None, "http/1.1"), "ALPN to upstream: %r" % conns[-1:])


def test_tls_upstream_wrong_name_502(env):
    o = env.origin("T", tls=True)
    up = {"address": "127.0.0.1:%d" % o.tls_port,
          "tls": {"ca": env.certs.ca, "server_name": "wrong.test"}}
    with env.daemon(upstream=up) as d:
        m = o.mark()
        with HttpConn(d.port) as c:
            r = c.request("GET", "/echo")
        check(r.status == 502, "an upstream whose certificate does not match: %r (want 502)" % r)
        for conn in o.conns(since=m[0]):
            check(not conn["requests"], "the request reached an unverified upstream")


def test_tls_upstream_untrusted_ca_502(env):
    o = env.origin("T", tls=True)
    # Trust only the system store: the test CA is not in it.
    up = {"address": "127.0.0.1:%d" % o.tls_port, "tls": {"server_name": "origin.test"}}
    with env.daemon(upstream=up) as d:
        r = HttpConn(d.port).request("GET", "/small")
        check(r.status == 502, "an upstream signed by an unknown CA: %r (want 502)" % r)


def test_wss_through_tls_both_sides(env):
    o = env.origin("T", tls=True)
    up = {"address": "127.0.0.1:%d" % o.tls_port,
          "tls": {"ca": env.certs.ca, "server_name": "origin.test"}}
    with env.daemon(upstream=up, tls=tls_conf(env, sni=False), plain=False) as d:
        async def go():
            ctx = env.certs.client_context()
            async with websockets.connect("wss://gate.test:%d/ws" % d.tls_port, ssl=ctx,
                                          host="127.0.0.1", port=d.tls_port,
                                          server_hostname="gate.test", open_timeout=5,
                                          close_timeout=3) as ws:
                for i in range(5):
                    await ws.send("over tls %d" % i)
                    m = await asyncio.wait_for(ws.recv(), 5)
                    check(m == "over tls %d" % i, "echo %r" % m)
        asyncio.run(asyncio.wait_for(go(), 15))


test_tls_versions_and_alpn.timeout = 20
test_sni_selects_certificate.timeout = 20
