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
