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
"""

import asyncio
import base64
import os
import re
import statistics
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


def main(a):
    if not a:
        print(__doc__)
        return 2
    cmd = a[0]
    if cmd == "wrk-parse":
        wrk_parse(a[1])
    elif cmd == "summarize":
        return summarize(a[1], a[2:])
    elif cmd == "summarize-enforce":
        return summarize_enforce(a[1], int(a[2]), int(a[3]))
    elif cmd == "ws-client":
        asyncio.run(ws_client(int(a[1]), int(a[2]), float(a[3]), a[4]))
    elif cmd == "rss-watch":
        rss_watch(int(a[1]), a[2], a[3])
    elif cmd == "rss":
        d = rss(int(a[1]))
        print(d.get("VmRSS", 0), d.get("VmHWM", 0))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
