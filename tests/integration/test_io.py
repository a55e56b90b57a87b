"""The I/O path (issue 12): system calls per proxied keep-alive request, counted with strace."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

from harness import ROOT, HttpConn, Skip, check, note

READS = ("read", "readv", "recvfrom", "recvmsg", "recvmmsg")
WRITES = ("write", "writev", "sendto", "sendmsg", "sendmmsg")


# strace -c's table as {syscall: calls}: the benchmark's own reader (scripts/bench_helper.py).
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from bench_helper import strace_counts  # noqa: E402


def count_syscalls(env, d, n):
    """Every system call of daemon d (all threads) while n keep-alive requests go through it."""
    if shutil.which("strace") is None:
        raise Skip("no strace (apt-get install strace)")
    out = os.path.join(env.dir, "strace-%d.out" % d.pid)
    with HttpConn(d.port) as c:
        r = c.request("GET", "/small")  # connections to both sides exist before counting
        check(r.status == 200, "warm-up: %r" % r)
        st = subprocess.Popen(["strace", "-c", "-f", "-q", "-p", str(d.pid), "-o", out],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        if st.poll() is not None:
            raise Skip("strace cannot attach: %s" % st.stderr.read().decode().strip()[:200])
        for _ in range(n):
            r = c.request("GET", "/small")
            check(r.status == 200 and r.body, "%r" % r)
        st.send_signal(signal.SIGINT)
        st.wait(10)
    return strace_counts(out)


def test_io_keepalive_syscalls(env):
    """A proxied keep-alive request costs one read and one write per side: 4 calls, no ioctl."""
    d = env.shared_daemon("io")
    n = 500
    calls = count_syscalls(env, d, n)
    io = sum(v for k, v in calls.items() if k in READS + WRITES)
    note("syscalls per request: %s" %
         " ".join("%s=%.2f" % (k, v / n) for k, v in sorted(calls.items(), key=lambda kv: -kv[1])))
    check(calls.get("ioctl", 0) == 0, "ioctl (FIONREAD before reads?) %d times in %d requests: %r"
          % (calls.get("ioctl", 0), n, calls))
    check(io <= 4 * n + 10, "%d reads and writes for %d requests (want <= 4 each): %r"
          % (io, n, calls))


test_io_keepalive_syscalls.timeout = 60


def malloc_count_lib(env):
    """build/tests/bench/libmalloc_count.so next to the daemon's build ($LG_MALLOC_COUNT)."""
    lib = os.environ.get("LG_MALLOC_COUNT") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(env.binary))), "tests", "bench",
        "libmalloc_count.so")
    with open(env.binary, "rb") as f:
        if b"__asan_init" in f.read():
            raise Skip("an AddressSanitizer build: ASan owns malloc (and the block cache is off)")
    if not os.path.exists(lib):
        raise Skip("no %s (build tests/bench/malloc_count.c, or set LG_MALLOC_COUNT)" % lib)
    return lib


def read_count(path, timeout=2.0):
    """The counter's next value written after now (it writes every 20 ms)."""
    time.sleep(0.1)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(path) as f:
                return int(f.read())
        except (OSError, ValueError):
            time.sleep(0.02)
    raise AssertionError("the allocation counter wrote nothing to %s" % path)


def allocations(env, extra, env_extra, target, headers, n_small, n_big):
    """Allocations of the daemon over n_small then n_big more keep-alive requests.

    headers(i) gives request i's fields; the first 100 requests warm the connection up.
    """
    lib = malloc_count_lib(env)
    out = os.path.join(env.dir, "malloc-%d.count" % time.monotonic_ns())
    e = dict(env_extra or {})
    e["LD_PRELOAD"] = (e.get("LD_PRELOAD", os.environ.get("LD_PRELOAD", "")) + " " + lib).strip()
    e["LG_MALLOC_COUNT_FILE"] = out
    d = env.daemon(extra=extra, env_extra=e)
    i = 0
    with d, HttpConn(d.port) as c:
        for _ in range(100):  # warm-up: pools, buffers and caches reach their steady size
            r = c.request("GET", target, headers=headers(i))
            i += 1
            check(r.status == 200, "warm-up: %r" % r)
            check(not headers(0) or r.header("Lessongate-Remaining") is not None,
                  "not an allowed lesson: %r" % r)
        counts = [read_count(out)]
        for n in (n_small, n_big):
            for _ in range(n):
                r = c.request("GET", target, headers=headers(i))
                i += 1
                check(r.status == 200, "%r" % r)
            counts.append(read_count(out))
    return counts[1] - counts[0], counts[2] - counts[1]


def check_no_allocation_per_request(env, what, extra, env_extra, target, headers):
    n_small, n_big = 200, 2000
    a_small, a_big = allocations(env, extra, env_extra, target, headers, n_small, n_big)
    note("%s: %d allocations in %d requests, %d in %d" % (what, a_small, n_small, a_big, n_big))
    # The count must not grow with the number of requests: 10x the requests, not more
    # allocations than a handful (the daemon's timers and log writer, not the requests).
    check(a_big <= max(a_small, 0) + 20,
          "%s: %d allocations in %d requests after %d in %d: the hot path allocates "
          "(%.2f per request)" % (what, a_big, n_big, a_small, n_small, a_big / n_big))


def test_io_no_allocation_per_request(env):
    """A proxied keep-alive request allocates nothing once the connection is warm."""
    check_no_allocation_per_request(env, "free route", None, None, "/small", lambda i: ())


test_io_no_allocation_per_request.timeout = 60


def test_io_no_allocation_per_enforced_request(env):
    """Allowed lessons of 100 students by trusted header allocate nothing per request either."""
    from test_enforce import faketime_lib
    extra = {
        "identity": {"header": {"name": "X-Student-Id", "trusted_peers": ["127.0.0.1/32"]}},
        "routes": [{"prefix": "/", "class": "subject"}],
    }
    # Monday 2026-09-21 10:00 in Asia/Shanghai: a school day, hours before 21:00.
    fake = {"LD_PRELOAD": faketime_lib(), "FAKETIME": "@2026-09-21 10:00:00",
            "TZ": "Asia/Shanghai"}
    check_no_allocation_per_request(env, "enforcing", extra, fake, "/small",
                                    lambda i: (("X-Student-Id", "s%d" % (i % 100)),))


test_io_no_allocation_per_enforced_request.timeout = 60


def worker_open(log):
    """The "draining" lines: {worker: connections open when the shutdown began}."""
    return {int(m.group(1)): int(m.group(2))
            for m in re.finditer(r'msg="draining" worker=(\d+) open=(\d+)', log)}


def test_io_two_workers_share_connections(env):
    """With two workers, connections are spread evenly whatever SO_REUSEPORT's hash does (it
    split 50 connections up to 33 to 19): a worker with two more than the other hands a newly
    accepted socket over. 160 keep-alive connections, plain and TLS, each answered, are open
    at the shutdown: at most 2 apart between the workers."""
    n = 160
    crt, key = env.certs.server("localhost")
    d = env.daemon(workers=2, tls={"certificate": crt, "key": key})
    ctx = env.certs.client_context()
    conns = []
    try:
        for i in range(n):
            if i % 4 == 3:
                c = HttpConn(d.tls_port, tls_ctx=ctx, server_hostname="localhost")
            else:
                c = HttpConn(d.port)
            conns.append(c)
            r = c.request("GET", "/small")
            check(r.status == 200 and r.body, "connection %d: %r" % (i, r))
        check(d.stop() == 0, "daemon did not stop cleanly: %s" % d.tail())
    finally:
        for c in conns:
            c.close()
    with open(d.logpath, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    open_ = worker_open(log)
    note("open per worker at the shutdown: %r; %s" % (open_, " | ".join(
        l.split("msg=")[1] for l in log.splitlines() if "worker finished" in l)))
    check(sorted(open_) == [0, 1] and open_[0] + open_[1] == n, "open connections: %r" % open_)
    check(abs(open_[0] - open_[1]) <= 2, "connections split %d to %d" % (open_[0], open_[1]))
