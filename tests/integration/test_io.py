"""The I/O path (issue 12): system calls per proxied keep-alive request, counted with strace."""

import os
import shutil
import signal
import subprocess
import time

from harness import HttpConn, Skip, check, note

READS = ("read", "readv", "recvfrom", "recvmsg", "recvmmsg")
WRITES = ("write", "writev", "sendto", "sendmsg", "sendmmsg")


def strace_counts(path):
    """strace -c's table as {syscall: calls}."""
    calls = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            try:
                calls[f[-1]] = int(f[3])
            except ValueError:
                pass
    return calls


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
