#!/usr/bin/python3
"""Helpers for scripts/bench (Python 3 stdlib only).

  bench_helper.py wrk-parse FILE               -> "RPS P99_MS ERRORS" from wrk --latency output
  bench_helper.py summarize RESULTS LABEL...   -> the bench: lines (medians and ratios)
  bench_helper.py summarize-enforce RESULTS NON2XX_NGINX NON2XX_LESSONGATED
                                               -> the "bench: enforce" lines (issue 4)
  bench_helper.py ws-client PORT N HOLD OUT    -> open N idle WebSocket tunnels, write
                                                  "READY n=.. failed=.." to OUT, hold, close
  bench_helper.py rss-watch PID STOPFILE OUT   -> sample VmRSS every 20 ms until STOPFILE exists,
                                                  write the maximum (kB) to OUT
  bench_helper.py rss PID                      -> VmRSS and VmHWM in kB
  bench_helper.py sink PORT                    -> an HTTP/1.1 upstream that reads request bodies
                                                  (Content-Length; 100 Continue when asked) 1 MiB
                                                  per recv and answers
                                                  200 with the byte count: the upload stream's
                                                  origin, never the bottleneck
  bench_helper.py deadline-client PORT PATH TOKENS FIRST N OUT UNTIL
                                               -> open N lesson WebSocket tunnels (tokens FIRST..
                                                  of the TOKENS file, in ?access_token=), write
                                                  OUT.ready, then record when each one's Close
                                                  frame arrived (kernel receive time) and its code,
                                                  until all closed or the unix time UNTIL
  bench_helper.py deadline-run PORT ORIGIN_CONTROL TOKENS N PROCS DEADLINE LOG DIR SECONDS PATH
                                               -> the "bench: deadline" lines (issue 4): N tunnels
                                                  over PROCS deadline-client processes, the
                                                  daemon's fake clock located from its answers,
                                                  each tunnel's Close time against DEADLINE (unix
                                                  time of the fake 21:00:00), the daemon's log
                                                  and the origin's records cross-checked
"""

import asyncio
import base64
import datetime
import errno
import json
import math
import os
import re
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time


def wrk_parse(path):
    text = open(path).read()
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    rps = float(m.group(1)) if m else 0.0
    p99 = None
    m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if m:
        v = float(m.group(1))
        p99 = v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(x) for x in m.groups())
    print("%.2f %s %d" % (rps, "%.3f" % p99 if p99 is not None else "nan", errors))


def strace_counts(path):
    """strace -c's table as {syscall: calls} (tests/integration/test_io.py reads it too)."""
    calls = {}
    for line in open(path):
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            try:
                calls[f[-1]] = int(f[3])
            except ValueError:
                continue
    return calls


def strace_parse(path, requests):
    """strace -c's table: calls per request in all and the biggest contributors."""
    calls = strace_counts(path)
    total = sum(calls.values())
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
    print("syscalls/request=%.2f (%d calls, %d requests: %s)" % (
        total / requests if requests else 0, total, requests,
        " ".join("%s=%.2f" % (k, v / requests) for k, v in top)))


def compare_summary(path):
    """The compare part: per workers and connections, medians and ratios to nginx, the targets."""
    rows = {}
    order = []
    cpu = {}
    for line in open(path):
        f = line.split()
        if len(f) not in (5, 8):
            continue
        if f[0] not in order:
            order.append(f[0])
        rows.setdefault((f[0], f[1]), []).append((float(f[2]), float(f[3]), int(f[4])))
        if len(f) == 8 and float(f[2]) > 0:
            # CPU microseconds per request: ticks / CLK_TCK over the requests of the round.
            cpu.setdefault((f[0], f[1]), []).append(
                int(f[5]) * 1e6 / float(f[6]) / (float(f[2]) * float(f[7])))
    fail = False
    names = ["nginx", "haproxy", "nginx-lua", "lg-free", "lg-enforce"]
    for key in order:
        base = rows.get((key, "nginx"))
        if not base:
            continue
        nr = statistics.median(x[0] for x in base)
        np99 = statistics.median(x[1] for x in base)
        wk, cn = key[1:].split(":c")
        parts = []
        for n in names:
            r = rows.get((key, n))
            if not r:
                continue
            gr = statistics.median(x[0] for x in r)
            gp = statistics.median(x[1] for x in r)
            errs = sum(x[2] for x in r)
            parts.append("%s=%.0f req/s p99=%.2fms (%.2fx, p99 %.2fx)%s" % (
                n, gr, gp, gr / nr if nr else 0, gp / np99 if np99 else 0,
                " ERRORS=%d" % errs if errs else ""))
            fail |= errs > 0
        print("bench: compare workers=%s connections=%s rounds=%d: %s" %
              (wk, cn, len(base), " | ".join(parts)))
        nc = cpu.get((key, "nginx"))
        if nc:
            ncm = statistics.median(nc)
            print("bench: compare workers=%s connections=%s CPU per request (the proxy's processes, "
                  "medians): %s" % (wk, cn, " | ".join(
                      "%s=%.1fus (%.2fx)" % (n, statistics.median(cpu[(key, n)]),
                                            statistics.median(cpu[(key, n)]) / ncm)
                      for n in names if cpu.get((key, n)))))
        e = rows.get((key, "lg-enforce"))
        if e:
            rr = statistics.median(x[0] for x in e) / nr if nr else 0
            pr = statistics.median(x[1] for x in e) / np99 if np99 else 0
            want = 1.2 if wk == "1" else 1.1
            ok = rr >= want and pr <= 1.0 and not sum(x[2] for x in e)
            print("bench: compare workers=%s connections=%s target: lg-enforce >= %.1fx nginx "
                  "req/s (%.2fx) and p99 <= 1.0x (%.2fx) %s" %
                  (wk, cn, want, rr, pr, "met" if ok else "MISSED"))
            fail |= not ok
    return 1 if fail else 0


def summarize(path, labels):
    """RESULTS lines: LABEL PROXY RPS P99 ERRORS (one per round)."""
    rows = {}
    for line in open(path):
        f = line.split()
        if len(f) != 5:
            continue
        rows.setdefault((f[0], f[1]), []).append((float(f[2]), float(f[3]), int(f[4])))
    strict_fail = False
    for label in labels:
        n = rows.get((label, "nginx"), [])
        g = rows.get((label, "lessongated"), [])
        if not n or not g:
            print("bench: %-6s incomplete (nginx rounds=%d lessongated rounds=%d)" %
                  (label, len(n), len(g)))
            strict_fail = True
            continue
        nr = statistics.median(x[0] for x in n)
        gr = statistics.median(x[0] for x in g)
        np99 = statistics.median(x[1] for x in n)
        gp99 = statistics.median(x[1] for x in g)
        rr = gr / nr if nr else float("nan")
        pr = gp99 / np99 if np99 else float("nan")
        errs = "" if not (sum(x[2] for x in n) or sum(x[2] for x in g)) else \
            " errors nginx=%d lessongated=%d" % (sum(x[2] for x in n), sum(x[2] for x in g))
        print("bench: %-6s nginx=%.0f req/s lessongated=%.0f req/s ratio=%.2f "
              "p99 nginx=%.2fms lessongated=%.2fms ratio=%.2f rounds=%d%s" %
              (label, nr, gr, rr, np99, gp99, pr, len(g), errs))
        ok_r = rr >= 1.0
        ok_p = pr <= 1.2
        print("bench: %-6s bars: req/s >= 1.0x nginx %s, p99 <= 1.2x nginx %s" %
              (label, "met" if ok_r else "MISSED", "met" if ok_p else "MISSED"))
        strict_fail |= not (ok_r and ok_p) or bool(errs)
        if label == "tls":
            print("bench: tls    bar (issue 12): req/s >= 1.1x nginx with TLS %s" %
                  ("met" if rr >= 1.1 else "MISSED"))
            strict_fail |= rr < 1.1
    return 1 if strict_fail else 0


def summarize_enforce(path, non2xx_nginx, non2xx_lg):
    """The enforce rounds: medians, ratio, the >= 1.0x bar; invalid if anything was refused."""
    rows = {}
    for line in open(path):
        f = line.split()
        if len(f) == 5 and f[0] == "enforce":
            rows.setdefault(f[1], []).append((float(f[2]), float(f[3]), int(f[4])))
    n, g = rows.get("nginx", []), rows.get("lessongated", [])
    if not n or not g:
        print("bench: enforce incomplete (nginx rounds=%d lessongated rounds=%d)" % (len(n), len(g)))
        return 1
    nr = statistics.median(x[0] for x in n)
    gr = statistics.median(x[0] for x in g)
    np99 = statistics.median(x[1] for x in n)
    gp99 = statistics.median(x[1] for x in g)
    rr = gr / nr if nr else float("nan")
    sock = sum(x[2] for x in g) - non2xx_lg
    print("bench: enforce nginx=%.0f req/s lessongated=%.0f req/s ratio=%.2f "
          "p99 nginx=%.2fms lessongated=%.2fms rounds=%d non-2xx nginx=%d lessongated=%d%s" %
          (nr, gr, rr, np99, gp99, len(g), non2xx_nginx, non2xx_lg,
           " socket-errors lessongated=%d" % sock if sock > 0 else ""))
    invalid = non2xx_lg > 0 or non2xx_nginx > 0
    if invalid:
        print("bench: enforce INVALID: %d non-2xx responses from lessongated, %d from nginx: "
              "the gate refused requests (or the upstream failed), so this is not a measurement "
              "of allowed lessons" % (non2xx_lg, non2xx_nginx))
    print("bench: enforce bar: req/s >= 1.0x plain nginx proxy %s" %
          ("met" if rr >= 1.0 and not invalid else "MISSED"))
    return 1 if invalid or rr < 1.0 else 0


async def ws_client(port, n, hold, out):
    sem = asyncio.Semaphore(200)
    conns = []
    failed = [0]
    first_err = []

    async def one(i):
        async with sem:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
                key = base64.b64encode(os.urandom(16)).decode()
                w.write(("GET /ws?i=%d HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n" % (i, key)).encode())
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
                if not head.startswith(b"HTTP/1.1 101"):
                    raise RuntimeError(head[:40])
                conns.append((r, w))
            except Exception as e:
                failed[0] += 1
                if not first_err:
                    first_err.append(repr(e)[:120])

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    with open(out + ".tmp", "w") as f:
        f.write("READY n=%d failed=%d seconds=%.1f %s\n" %
                (len(conns), failed[0], time.monotonic() - t0, first_err[0] if first_err else ""))
    os.rename(out + ".tmp", out)
    await asyncio.sleep(hold)
    for r, w in conns:
        w.close()
    await asyncio.sleep(0.5)


def rss(pid):
    d = {}
    try:
        for line in open("/proc/%d/status" % pid):
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                d[k] = int(v.split()[0])
    except OSError:
        pass
    return d


def rss_watch(pid, stopfile, out):
    mx = 0
    while not os.path.exists(stopfile):
        mx = max(mx, rss(pid).get("VmRSS", 0))
        time.sleep(0.02)
    with open(out, "w") as f:
        f.write("%d\n" % mx)


# ------------------------------------------------------------------ deadline (issue 4)
#
# Linux values (asm-generic): SO_TIMESTAMPNS asks the kernel to stamp received data with
# CLOCK_REALTIME; for TCP, recvmsg() hands the stamp of the segment read as a control message,
# so the moment a Close frame reached the client does not depend on when Python got to it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = getattr(socket, "SCM_TIMESTAMPNS", SO_TIMESTAMPNS)
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def rfc3339_unix(s):
    return int(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def header_value(head, name):
    m = re.search(rb"\r\n" + name.encode() + rb":[ \t]*([^\r\n]*)", head, re.I)
    return m.group(1).decode("latin-1").strip() if m else None


def deadline_client(port, path, tokens_file, first, n, out, until, conc=64):
    """Open n lesson tunnels (non-blocking sockets, epoll), then wait for their Close frames.

    Written to OUT: "open I RS RR T DEADLINE" per tunnel (RS/RR: real time just before the
    request went out and when the 101 head was in; T = Deadline - Remaining, the daemon's
    whole fake second of the decision), "fail I WHY", then "close I TK TU CODE" (TK: kernel
    receive time of the Close frame, TU: when this process read it) or "noclose I WHAT".
    OUT.ready gets "READY n=.. failed=.. seconds=.." once every tunnel is open (or failed).
    """
    tokens = [l.strip() for l in open(tokens_file) if l.strip()]
    ep = select.epoll()
    conns = {}  # fd -> [sock, i, state, buf, rs]
    todo = list(range(n - 1, -1, -1))
    opened, fails, lines = [], [], []
    t0 = time.time()
    open_by = min(until, t0 + 120)

    def fail(fd, why):
        c = conns.pop(fd)
        try:
            ep.unregister(fd)
        except OSError:
            pass
        c[0].close()
        fails.append((c[1], why))

    def start(i):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = s.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            fails.append((i, "connect: %s" % os.strerror(err)))
            return
        conns[s.fileno()] = [s, i, "connect", b"", 0.0]
        ep.register(s.fileno(), select.EPOLLOUT)

    inflight = lambda: sum(1 for c in conns.values() if c[2] != "open")
    while (todo or inflight()) and time.time() < open_by:
        while todo and inflight() < conc:
            start(todo.pop())
        for fd, ev in ep.poll(1.0):
            c = conns.get(fd)
            if c is None:
                continue
            s, i = c[0], c[1]
            if c[2] == "connect":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(fd, "connect: %s" % os.strerror(err))
                    continue
                tok = tokens[(first + i) % len(tokens)]
                key = base64.b64encode(os.urandom(16)).decode()
                req = ("GET %s?access_token=%s&i=%d HTTP/1.1\r\nHost: bench\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n" % (path, tok, first + i, key)).encode()
                c[4] = time.time()
                try:
                    s.send(req)  # ~1 KB into an empty socket buffer: never short
                except OSError as e:
                    fail(fd, "send: %s" % e)
                    continue
                c[2] = "head"
                ep.modify(fd, select.EPOLLIN)
            elif c[2] == "head":
                try:
                    b = s.recv(65536)
                except OSError as e:
                    fail(fd, "recv: %s" % e)
                    continue
                if not b:
                    fail(fd, "closed before the 101")
                    continue
                c[3] += b
                end = c[3].find(b"\r\n\r\n")
                if end < 0:
                    continue
                rr = time.time()
                head, c[3] = c[3][:end + 2], c[3][end + 4:]
                if not head.startswith(b"HTTP/1.1 101"):
                    fail(fd, head.split(b"\r\n", 1)[0].decode("latin-1"))
                    continue
                rem, dl = header_value(head, "Lessongate-Remaining"), \
                    header_value(head, "Lessongate-Deadline")
                if rem is None or dl is None:
                    fail(fd, "101 without Lessongate-Remaining/-Deadline")
                    continue
                d = rfc3339_unix(dl)
                opened.append("open %d %.6f %.6f %d %d" % (first + i, c[4], rr, d - int(rem), d))
                c[2] = "open"
                ep.unregister(fd)
    for fd in [fd for fd, c in conns.items() if c[2] != "open"]:
        fail(fd, "handshake timed out")
    with open(out + ".ready.tmp", "w") as f:
        f.write("READY n=%d failed=%d seconds=%.1f %s\n" % (
            len(opened), len(fails), time.time() - t0, fails[0][1] if fails else ""))
    os.rename(out + ".ready.tmp", out + ".ready")

    # Wait for the Close frames. Level-triggered; one recvmsg per readable socket per turn.
    anc = socket.CMSG_SPACE(16)
    for fd in conns:
        ep.register(fd, select.EPOLLIN)
    done = set()  # fds whose first frame is in (a Close, or something else: recorded)
    first_at = {}  # fd -> kernel receive time of the first byte after the 101
    while conns and time.time() < until:
        evs = ep.poll(max(0.0, min(1.0, until - time.time())))
        tu = time.time()
        for fd, ev in evs:
            c = conns[fd]
            s, i = c[0], c[1]
            try:
                b, cm, _, _ = s.recvmsg(65536, anc)
            except BlockingIOError:
                continue
            except OSError as e:
                b, cm = b"", []
                if fd not in done:
                    done.add(fd)
                    lines.append("noclose %d %s" % (first + i, errno.errorcode.get(e.errno, "?")))
            if not b:
                if fd not in done:
                    done.add(fd)
                    lines.append("noclose %d eof" % (first + i))
                ep.unregister(fd)
                s.close()
                del conns[fd]
                continue
            if fd in done:
                continue  # after the Close: whatever else comes is dropped
            for lvl, typ, data in cm:
                if lvl == socket.SOL_SOCKET and typ == SCM_TIMESTAMPNS and len(data) >= 16:
                    sec, nsec = struct.unpack("qq", data[:16])
                    first_at.setdefault(fd, sec + nsec / 1e9)
            first_at.setdefault(fd, tu)
            c[3] += b
            buf = c[3]
            if len(buf) < 2:
                continue
            op, ln = buf[0] & 0x0F, buf[1] & 0x7F
            if op != 0x8:
                done.add(fd)
                lines.append("noclose %d opcode=%d" % (first + i, op))
                continue
            if len(buf) < 2 + ln:
                continue
            code = int.from_bytes(buf[2:4], "big") if ln >= 2 else 1005
            done.add(fd)
            lines.append("close %d %.6f %.6f %d" % (first + i, first_at[fd], tu, code))
            # Answer like a browser: our own (masked) Close, then wait for the daemon's FIN.
            mask = os.urandom(4)
            payload = code.to_bytes(2, "big")
            try:
                s.send(bytes([0x88, 0x80 | 2]) + mask +
                       bytes(p ^ mask[k % 4] for k, p in enumerate(payload)))
            except OSError:
                pass
    for fd, c in conns.items():
        if fd not in done:
            lines.append("noclose %d timeout" % (first + c[1]))
        c[0].close()
    with open(out + ".tmp", "w") as f:
        f.write("".join(l + "\n" for l in opened))
        f.write("".join("fail %d %s\n" % (first + i, w.replace(" ", "_")) for i, w in fails))
        f.write("".join(l + "\n" for l in lines))
    os.rename(out + ".tmp", out)


def http_get_json(port, target, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n" % target).encode())
    data = b""
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        data += b
    s.close()
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def probe_clock(port, token, count=150, spacing=0.0107):
    """Observations (T, RS, RR) from the status endpoint on one keep-alive connection."""
    obs = []
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = ("GET /.well-known/lessongate/status?access_token=%s HTTP/1.1\r\nHost: bench\r\n\r\n"
           % token).encode()
    buf = b""
    for _ in range(count):
        rs = time.time()
        s.sendall(req)
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                m = re.search(rb"\r\ncontent-length:\s*(\d+)", buf[:end + 2], re.I)
                need = end + 4 + int(m.group(1))
                if len(buf) >= need:
                    break
            b = s.recv(65536)
            if not b:
                raise RuntimeError("status probe: connection closed")
            buf += b
        rr = time.time()
        body, buf = buf[end + 4:need], buf[need:]
        obs.append((rfc3339_unix(json.loads(body)["time"]), rs, rr))
        time.sleep(spacing)
    s.close()
    return obs


def offset_bounds(obs):
    """The daemon's fake time is real + D: floor(real + D) = T for a decision in [RS, RR]."""
    lo = max(t - rr for t, rs, rr in obs)
    hi = min(t + 1 - rs for t, rs, rr in obs)
    return lo, hi


def log_closes(path, deadline, since_line):
    """The daemon's own lines for the forced closes: fake-clock ms timestamps against 21:00."""
    out, codes = [], {}
    with open(path, errors="replace") as f:
        for k, line in enumerate(f):
            if k < since_line or 'event=forced_close' not in line:
                continue
            m = re.match(r"ts=(\S+)Z ", line)
            c = re.search(r'reason="websocket close (\d+)', line)
            if c:
                codes[c.group(1)] = codes.get(c.group(1), 0) + 1
            if m:
                t = datetime.datetime.fromisoformat(m.group(1)).replace(
                    tzinfo=datetime.timezone.utc).timestamp()
                out.append(t - deadline)
    return out, codes


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(math.ceil(p / 100.0 * len(xs))) - 1))]


def deadline_run(port, origc, tokens_file, n, procs, deadline, log, wdir, seconds, path,
                 label):
    t_start = time.time()
    until = t_start + seconds
    kids = []

    def stop(signum, frame):  # the bench was interrupted: take the clients down too
        for _, p in kids:
            if p.poll() is None:
                p.kill()
        sys.exit(1)

    signal.signal(signal.SIGTERM, stop)
    mark = http_get_json(origc, "/stats")["next_id"]
    per = int(math.ceil(n / float(procs)))
    for k in range(procs):
        cnt = min(per, n - k * per)
        if cnt <= 0:
            break
        out = os.path.join(wdir, "dl-%s-%d" % (label, k))
        for f in (out, out + ".ready"):
            if os.path.exists(f):
                os.unlink(f)
        kids.append((out, subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "deadline-client", str(port), path,
             tokens_file, str(k * per), str(cnt), out, "%.3f" % until],
            stdout=open(out + ".log", "w"), stderr=subprocess.STDOUT)))
    # Every client has opened its tunnels (or given up).
    ready = {}
    while len(ready) < len(kids) and time.time() < until:
        for out, p in kids:
            if out not in ready and os.path.exists(out + ".ready"):
                ready[out] = open(out + ".ready").read().split()
            elif out not in ready and p.poll() is not None:
                ready[out] = ["READY", "n=0", "failed=?", "seconds=0", "client exited"]
        time.sleep(0.05)
    t_ready = time.time()
    first_err = " ".join(w for r in ready.values() for w in r[4:])[:160]
    tok0 = open(tokens_file).readline().strip()
    probes = probe_clock(port, tok0) if time.time() < until - 3 else []
    for out, p in kids:
        try:
            p.wait(max(1.0, until + 5 - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    opens, closes, nocl, fails = [], [], [], []
    for out, p in kids:
        if not os.path.exists(out):
            continue
        for line in open(out):
            f = line.split()
            if f[0] == "open":
                opens.append((int(f[4]), float(f[2]), float(f[3]), int(f[5])))
            elif f[0] == "close":
                closes.append((float(f[2]), float(f[3]), int(f[4])))
            elif f[0] == "noclose":
                nocl.append(f[2])
            elif f[0] == "fail":
                fails.append(" ".join(f[2:]))
    pre = "bench: deadline workers=%s" % label
    if not opens:
        print("%s no tunnel opened (%s)" % (pre, first_err or (fails[:1] or ["?"])[0]))
        return 1
    # Where the daemon's fake clock is, from its own answers (probes and the 101s).
    lo, hi = offset_bounds(probes) if probes else offset_bounds([o[:3] for o in opens])
    lo_all, hi_all = offset_bounds([o[:3] for o in opens] + probes)
    if lo_all <= hi_all:
        lo, hi = lo_all, hi_all
    else:
        print("%s WARNING: the 101s disagree with the status probes about the fake clock "
              "(%.3f..%.3f); using the probes" % (pre, lo_all, hi_all))
    D = (lo + hi) / 2
    err = (hi - lo) / 2
    real_deadline = deadline - D
    dls = set(o[3] for o in opens)
    late_open = sum(1 for o in opens if o[2] >= real_deadline)
    opened_by = max(o[2] for o in opens) + D
    # (rounded to the ms here so that a close at the deadline does not print as -0.000)
    lat = sorted(round(tk - real_deadline, 3) + 0.0 for tk, tu, code in closes)
    lat_user = sorted(round(tu - real_deadline, 3) + 0.0 for tk, tu, code in closes)
    c4002 = sum(1 for tk, tu, code in closes if code == 4002)
    other = {}
    for tk, tu, code in closes:
        if code != 4002:
            other[code] = other.get(code, 0) + 1
    for w in nocl:
        other[w] = other.get(w, 0) + 1
    # The origin's side: every tunnel's upstream connection got our Close 4002.
    orig_codes, orig_ws, t_o = {}, 0, time.time()
    while True:
        conns = [c for c in http_get_json(origc, "/conns?since=%d" % mark, 30)
                 if c.get("ws") is not None]
        orig_ws = len(conns)
        pending = sum(1 for c in conns if c["ws"]["close_code_in"] is None and c["closed"] is None)
        if pending == 0 or time.time() - t_o > 10:
            break
        time.sleep(0.5)
    for c in conns:
        k = c["ws"]["close_code_in"]
        orig_codes[k] = orig_codes.get(k, 0) + 1
    dlog, dcodes = log_closes(log, deadline, 0)

    print("%s tunnels=%d closed=%d code4002=%d spread: first=%+.3fs median=%+.3fs "
          "p99=%+.3fs max=%+.3fs (from 21:00:00; clock located to +-%.3fs)%s" % (
              pre, len(opens), len(closes), c4002, lat[0] if lat else float("nan"),
              statistics.median(lat) if lat else float("nan"),
              pct(lat, 99) if lat else float("nan"), lat[-1] if lat else float("nan"), err,
              "" if not other else " other=" + ",".join("%s:%d" % kv for kv in sorted(
                  other.items(), key=str))))
    print("%s opened %d/%d tunnels in %.1fs (%d processes; last 101 at fake %s%s), "
          "%d clock probes; client read the Close max %+.3fs; daemon log: %d closes %s "
          "from %+.3fs to %+.3fs; origin got Close 4002 on %d/%d tunnels%s" % (
              pre, len(opens), n, t_ready - t_start, len(kids),
              datetime.datetime.fromtimestamp(opened_by, SHANGHAI).strftime("%H:%M:%S.%f")[:-3],
              "" if not late_open else ", %d AFTER the deadline" % late_open, len(probes),
              lat_user[-1] if lat_user else float("nan"), len(dlog),
              ",".join("%s:%d" % kv for kv in sorted(dcodes.items())) or "-",
              min(dlog) if dlog else float("nan"), max(dlog) if dlog else float("nan"),
              orig_codes.get(4002, 0), orig_ws,
              "" if len(orig_codes) <= 1 else " (" + ",".join(
                  "%s:%d" % kv for kv in sorted(orig_codes.items(), key=str)) + ")"))
    if len(opens) < n or fails:
        print("%s WARNING: %d tunnels failed to open (%s)" % (pre, n - len(opens),
                                                              (fails[:1] or [first_err])[0]))
    if dls != {deadline}:
        print("%s WARNING: deadlines in the 101s: %s (want only %d)" % (pre, sorted(dls), deadline))
    ok = (len(opens) == n and late_open == 0 and len(closes) == n and c4002 == n and
          lat and -1.0 <= lat[0] and lat[-1] <= 1.0)
    print("%s bar: all %d tunnels closed with 4002 within 1 s of 21:00:00 %s" %
          (pre, n, "met" if ok else "MISSED"))
    return 0 if ok else 1


def sink_conn(s):
    """Serve one keep-alive connection of the sink: heads, bodies read and dropped, answers."""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    pending = b""
    with s:
        while True:
            while b"\r\n\r\n" not in pending:
                d = s.recv(65536)
                if not d:
                    return
                pending += d
            head, _, pending = pending.partition(b"\r\n\r\n")
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            left = int(m.group(1)) if m else 0
            if re.search(rb"(?im)^expect:\s*100-continue", head):
                s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl -T waits a second without it
            got = min(left, len(pending))
            pending, left = pending[got:], left - got
            total = got
            while left > 0:
                n = s.recv_into(view[:min(left, len(buf))])
                if n == 0:
                    return
                left -= n
                total += n
            body = b"%d\n" % total
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def sink(port):
    """The upload sink on 127.0.0.1:port, a thread per connection."""
    import threading
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(128)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=sink_conn, args=(c,), daemon=True).start()


def main(a):
    if not a:
        print(__doc__)
        return 2
    cmd = a[0]
    if cmd == "wrk-parse":
        wrk_parse(a[1])
    elif cmd == "summarize":
        return summarize(a[1], a[2:])
    elif cmd == "compare-summary":
        return compare_summary(a[1])
    elif cmd == "strace-parse":
        strace_parse(a[1], int(a[2]))
    elif cmd == "summarize-enforce":
        return summarize_enforce(a[1], int(a[2]), int(a[3]))
    elif cmd == "ws-client":
        asyncio.run(ws_client(int(a[1]), int(a[2]), float(a[3]), a[4]))
    elif cmd == "rss-watch":
        rss_watch(int(a[1]), a[2], a[3])
    elif cmd == "deadline-client":
        deadline_client(int(a[1]), a[2], a[3], int(a[4]), int(a[5]), a[6], float(a[7]))
    elif cmd == "deadline-run":
        return deadline_run(int(a[1]), int(a[2]), a[3], int(a[4]), int(a[5]), int(a[6]), a[7],
                            a[8], float(a[9]), a[10], a[11] if len(a) > 11 else "1")
    elif cmd == "sink":
        sink(int(a[1]))
    elif cmd == "rss":
        d = rss(int(a[1]))
        print(d.get("VmRSS", 0), d.get("VmHWM", 0))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
