"""Zero-copy bodies (issue 12): Content-Length bodies go socket to socket by splice(2), both ways,
byte-exact; a side that closes mid-body ends the exchange without a hang or a leaked descriptor."""

import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time

from harness import ConnClosed, HttpConn, Skip, check, note
from test_io import strace_counts

MB = 1 << 20
BIG = int(os.environ.get("LG_IT_SPLICE_MB", "64")) * MB
PATTERN_LEN = 65536
PATTERN = bytes((i * 7 + 13 + (i >> 8)) & 0xFF for i in range(PATTERN_LEN))


def lg(env):
    return env.shared_daemon("splice", limits={"max_body_size": "4G"}, timeouts={"body": "30s"},
                             upstream={"address": "127.0.0.1:%d" % env.origin().port,
                                       "response_timeout": "30s"})


def pattern_sha(n):
    """sha256 of the origin's first n pattern bytes."""
    h = hashlib.sha256()
    block = PATTERN * 16
    while n > 0:
        k = min(n, len(block))
        h.update(block[:k])
        n -= k
    return h.hexdigest()


def fds(d):
    """Descriptors the daemon holds."""
    return len(os.listdir("/proc/%d/fd" % d.pid))


def fds_back(d, base, timeout=5.0):
    """Wait until the daemon holds no more descriptors than base; the last count."""
    end = time.monotonic() + timeout
    n = fds(d)
    while n > base and time.monotonic() < end:
        time.sleep(0.05)
        n = fds(d)
    return n


def let_go(d, c, base):
    """No descriptor beyond base is left (pipe, upstream), and connection c is still served."""
    n = fds_back(d, base)
    check(n <= base, "the daemon holds %d descriptors, %d before" % (n, base))
    r = c.request("GET", "/small")
    check(r.status == 200, "after: %r" % r)


def warm(d, c):
    """A spliced download and a small request on c: the pools (pipes, upstream) are warm."""
    r = c.request("GET", "/stream?n=%d" % (4 * MB))
    check(r.status == 200 and len(r.body) == 4 * MB, "warm-up: %r" % r)
    r = c.request("GET", "/small")
    check(r.status == 200, "warm-up: %r" % r)


def download_sha(c, n, extra=""):
    """GET n pattern bytes with Content-Length on c; (response, sha256 of its body)."""
    h = hashlib.sha256()
    got = [0]

    def sink(b):
        h.update(b)
        got[0] += len(b)

    c.send(b"GET /stream?n=%d%s HTTP/1.1\r\nHost: t\r\n\r\n" % (n, extra.encode()))
    r = c.read_response(sink=sink)
    return r, h.hexdigest(), got[0]


def post_head(c, target, n):
    """Send the head of a POST with an n-byte Content-Length body on c."""
    c.s.sendall(b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (target.encode(), n))


def upload_sha(c, n):
    """POST n random bytes with Content-Length on c; (response, sha256 of what was sent)."""
    h = hashlib.sha256()
    post_head(c, "/upload?hash=1", n)
    block = os.urandom(MB)
    sent = 0
    while sent < n:
        k = min(len(block), n - sent)
        h.update(block[:k])
        c.s.sendall(block[:k])
        sent += k
    return c.read_response(), h.hexdigest()


def test_splice_large_bodies_byte_exact(env):
    """A large download and a large upload arrive byte-exact (sha256), and the keep-alive
    connection goes on with a small request after each."""
    d = lg(env)
    with HttpConn(d.port, timeout=30) as c:
        t0 = time.monotonic()
        r, sha, n = download_sha(c, BIG)
        dt = time.monotonic() - t0
        check(r.status == 200 and n == BIG, "download: %r, %d of %d bytes" % (r, n, BIG))
        check(sha == pattern_sha(BIG), "download sha256 %s, want %s" % (sha, pattern_sha(BIG)))
        r = c.request("GET", "/small")
        check(r.status == 200 and r.body.startswith(b"hello"), "after the download: %r" % r)
        t1 = time.monotonic()
        r, sha = upload_sha(c, BIG)
        dt2 = time.monotonic() - t1
        check(r.status == 200, "upload: %r" % r)
        got = r.json()
        check(got["bytes"] == BIG and got["sha256"] == sha,
              "origin received %d bytes sha256 %s, sent %d sha256 %s" %
              (got["bytes"], got["sha256"], BIG, sha))
        r = c.request("GET", "/small")
        check(r.status == 200 and r.body.startswith(b"hello"), "after the upload: %r" % r)
    note("%d MB down in %.2fs, up in %.2fs" % (BIG // MB, dt, dt2))


def test_splice_is_used_both_ways(env):
    """Content-Length bodies move with splice(2) (counted with strace), in both directions."""
    if shutil.which("strace") is None:
        raise Skip("no strace (apt-get install strace)")
    d = lg(env)
    counts = {}
    with HttpConn(d.port, timeout=30) as c:
        r = c.request("GET", "/small")
        check(r.status == 200, "warm-up: %r" % r)
        for what in ("download", "upload"):
            out = os.path.join(env.dir, "strace-splice-%s.out" % what)
            st = subprocess.Popen(["strace", "-c", "-f", "-q", "-e", "trace=splice,recvfrom,readv",
                                   "-p", str(d.pid), "-o", out],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(0.5)
            if st.poll() is not None:
                raise Skip("strace cannot attach: %s" % st.stderr.read().decode().strip()[:200])
            if what == "download":
                r, sha, n = download_sha(c, 8 * MB)
                check(r.status == 200 and sha == pattern_sha(8 * MB), "download: %r" % r)
            else:
                r, sha = upload_sha(c, 8 * MB)
                check(r.status == 200 and r.json()["sha256"] == sha, "upload: %r" % r)
            st.send_signal(signal.SIGINT)
            st.wait(10)
            counts[what] = strace_counts(out)
    note("system calls: %s" % counts)
    for what, calls in counts.items():
        check(calls.get("splice", 0) > 0, "no splice during the %s: %r" % (what, calls))
        # Copying 8 MiB would take at least 64 reads of 128 KiB; spliced, a few remain (heads).
        check(calls.get("recvfrom", 0) + calls.get("readv", 0) < 32,
              "the %s body was read into user space: %r" % (what, calls))


def test_splice_client_closes_mid_download(env):
    """A client that closes in the middle of a spliced download: the upstream connection and the
    pipe are let go (no descriptor left), and the daemon goes on."""
    d = lg(env)
    with HttpConn(d.port, timeout=30) as c:
        warm(d, c)
        base = fds(d)
        with HttpConn(d.port, timeout=10) as c2:
            c2.send(b"GET /stream?n=%d HTTP/1.1\r\nHost: t\r\n\r\n" % (1024 * MB))
            c2.read_head()
            got = 0
            while got < 4 * MB:
                got += len(c2.s.recv(1 << 20))
        let_go(d, c, base)


def test_splice_upstream_closes_mid_download(env):
    """An upstream that closes in the middle of a spliced Content-Length body: the client's
    connection is closed (the body is short, so it must not look complete), without a hang."""
    d = lg(env)
    with HttpConn(d.port, timeout=30) as c:
        warm(d, c)
        base = fds(d)
        with HttpConn(d.port, timeout=10) as c2:
            t0 = time.monotonic()
            try:
                download_sha(c2, 64 * MB, "&cut=%d" % (8 * MB))
                short = False
            except ConnClosed:
                short = True
            dt = time.monotonic() - t0
            check(short, "a body cut at 8 MB arrived whole")
            check(dt < 5, "closing took %.1fs" % dt)
        let_go(d, c, base)


def test_splice_client_closes_mid_upload(env):
    """A client that closes in the middle of a spliced upload: everything is let go."""
    d = lg(env)
    with HttpConn(d.port, timeout=30) as c:
        warm(d, c)
        base = fds(d)
        with HttpConn(d.port, timeout=10) as c2:
            post_head(c2, "/upload", 1024 * MB)
            block = os.urandom(MB)
            for _ in range(8):
                c2.s.sendall(block)
        let_go(d, c, base)


def test_splice_upstream_answers_mid_upload(env):
    """An upstream that answers and closes in the middle of a spliced upload: the client gets the
    answer and the connection closes (the rest of the body is not read), without a hang."""
    d = lg(env)
    with HttpConn(d.port, timeout=30) as c:
        warm(d, c)
        base = fds(d)
        with HttpConn(d.port, timeout=10) as c2:
            post_head(c2, "/expect-reject", 1024 * MB)
            err = []

            def send():
                block = bytes(MB)
                try:
                    for _ in range(1024):
                        c2.s.sendall(block)
                except OSError as e:
                    err.append(e)

            th = threading.Thread(target=send, daemon=True)
            th.start()
            r = c2.read_response()
            check(r.status == 417, "%r" % r)
            check(c2.closed_within(5), "the connection stayed open")
            th.join(5)
            check(not th.is_alive(), "the client could still send after the close")
        let_go(d, c, base)


def test_splice_answer_read_before_the_reset(env):
    """The same race made certain: the upstream answers 417 and resets while the daemon is
    stopped, after the client sent more body. Resumed, the daemon handles the client first, and
    its splice into the upstream fails; the 417 waiting in the socket must still be the answer,
    whole (an empty one, and one with a 60 kB body), not a 502: an origin refusing an upload
    closes with the body unread, which is a reset."""
    for size in (0, 60000):
        answer_before_reset(env, size)


def answer_before_reset(env, size):
    import socket
    import struct
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    got_head = threading.Event()
    answer = threading.Event()
    body = bytes((i * 31 + 7) & 0xFF for i in range(size))

    def upstream():
        conn, _ = srv.accept()
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += conn.recv(4096)
        got_head.set()
        answer.wait(20)
        conn.sendall(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % size + body)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # the body is unread: a reset either way

    th = threading.Thread(target=upstream, daemon=True)
    th.start()
    with env.daemon(limits={"max_body_size": "4G"}, timeouts={"body": "30s"},
                    upstream={"address": "127.0.0.1:%d" % srv.getsockname()[1],
                              "response_timeout": "30s"}) as d:
        with HttpConn(d.port, timeout=10) as c:
            post_head(c, "/upload", 64 * MB)
            c.s.sendall(bytes(256 * 1024))
            check(got_head.wait(10), "the upstream never got the request head")
            time.sleep(0.5)  # the rest now goes by splice (more than 64 KiB left)
            d.proc.send_signal(signal.SIGSTOP)
            try:
                c.s.sendall(bytes(64 * 1024))  # the client is ready first ...
                time.sleep(0.2)
                answer.set()  # ... then the upstream answers and resets
                th.join(5)
                time.sleep(0.2)
            finally:
                d.proc.send_signal(signal.SIGCONT)
            r = c.read_response()
            check(r.status == 417, "the upstream's answer before its reset: %r" % r)
            check(r.body == body, "the answer's %d-byte body arrived as %d bytes" %
                  (size, len(r.body)))
            check(c.closed_within(5), "the connection stayed open")
    srv.close()

def test_splice_daemon_stops_clean(env):
    """After the bodies cut short above, the daemon stops cleanly: exit status 0, and in sanitizer
    builds no AddressSanitizer or LeakSanitizer report (a pipe or event left behind)."""
    d = lg(env)
    with HttpConn(d.port, timeout=30) as c:
        warm(d, c)
    env.cache.pop("splice", None)
    rc = d.stop()
    with open(d.logpath, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    check("Sanitizer" not in log, "sanitizer report: %s" % log[log.find("Sanitizer") - 200:][:2000])
    check(rc == 0, "exit status %s: %s" % (rc, d.tail()))
