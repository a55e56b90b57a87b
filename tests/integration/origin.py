#!/usr/bin/python3
"""Test origin for lessongated's integration tests: records every byte it receives.

One asyncio process serves plain and TLS listeners and answers a small set of
endpoints (below). A control listener, another port, answers JSON about what
the origin received, connection by connection, so a test can prove that a
malformed request never reached it.

Endpoints (query parameters in brackets):
  /small                      200, "hello from NAME\\n", Content-Length
  /echo                       200, JSON describing the request as received
  /cl [n]                     200, n pattern bytes with Content-Length
  /chunked [n, size, trailer] 200, n pattern bytes in chunks of size
  /stream [n, chunked, pause_after, pause, mid]
                              n pattern bytes generated on the fly, written with
                              backpressure; optionally pausing once (mid=1:
                              in the middle of a chunk); cut=N: close the connection
                              once N bytes are written (a body cut short)
  /upload [pause_after, pause, hash, rate]
                              reads the body (any framing) counting bytes;
                              optionally stops reading for a while, or reads
                              only `rate` bytes a second
  /close [n]                  200 without Content-Length, ended by closing
  /slow [delay]               sleeps, then 200 /small
  /slowbody [delay, n]        headers at once, the body after delay
  /sse [n, interval]          text/event-stream, chunked, n events (0: forever)
  /status [code]              any status; 204 and 304 without a body
  /hop                        200 with hop-by-hop headers that a proxy must drop
  /expect-reject              417 without reading the body, then close
  /drop                       closes without answering
  /badresp [kind]             a raw, broken or unusual response (see BAD_RESPONSES), then close
  /small?idle_close=S         answers keep-alive, then closes the idle connection after S s
  /ws                         WebSocket echo (frames echoed as received)
  /ws-close [after, code]     WebSocket that closes itself after `after` messages
/lesson/.../NAME is answered like /NAME (an endpoint on a lesson route).
HEAD is answered like GET without the body; ?close=1 on any endpoint answers with
Connection: close and closes.

Control (HTTP on --control): GET /stats, GET /conns[?full=1], GET /conn?id=N,
POST /reset. Every connection record has: id, listener, sni, alpn, peer,
opened, closed, closed_by, bytes_in, data (the first 64 KiB received,
latin-1), requests [...], ws {...}.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import signal
import ssl
import sys
import time
import urllib.parse

from websockets.connection import OPEN, State
from websockets.frames import OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT, Close, Frame
from websockets.server import ServerConnection

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEEP_DATA = 64 * 1024
PATTERN_LEN = 65536
PATTERN = bytes((i * 7 + 13 + (i >> 8)) & 0xFF for i in range(PATTERN_LEN))
PATTERN2 = PATTERN * 2


def pattern_slice(offset, n):
    """n bytes of the endless pattern starting at offset (n <= PATTERN_LEN)."""
    o = offset % PATTERN_LEN
    return PATTERN2[o : o + n]


class Conn:
    """What one accepted connection sent us."""

    def __init__(self, cid, listener, peer):
        self.id = cid
        self.listener = listener
        self.peer = peer
        self.sni = None
        self.alpn = None
        self.tls_version = None
        self.opened = time.time()
        self.closed = None
        self.closed_by = None
        self.bytes_in = 0
        self.data = bytearray()
        self.requests = []
        self.ws = None

    def record(self, b):
        self.bytes_in += len(b)
        room = KEEP_DATA - len(self.data)
        if room > 0:
            self.data += b[:room]

    def as_json(self, full):
        d = {
            "id": self.id,
            "listener": self.listener,
            "peer": self.peer,
            "sni": self.sni,
            "alpn": self.alpn,
            "tls_version": self.tls_version,
            "opened": self.opened,
            "closed": self.closed,
            "closed_by": self.closed_by,
            "bytes_in": self.bytes_in,
            "requests": self.requests,
            "ws": self.ws,
        }
        if full:
            d["data"] = self.data.decode("latin-1")
        return d


class State_:
    def __init__(self, name):
        self.name = name
        self.conns = []
        self.next_id = 1
        self.sni_by_obj = {}

    def new_conn(self, listener, peer):
        c = Conn(self.next_id, listener, peer)
        self.next_id += 1
        self.conns.append(c)
        return c

    def stats(self):
        return {
            "name": self.name,
            "conns": len(self.conns),
            "open": sum(1 for c in self.conns if c.closed is None),
            "bytes_in": sum(c.bytes_in for c in self.conns),
            "requests": sum(len(c.requests) for c in self.conns),
            "next_id": self.next_id,
        }


ST = None


class Closed(Exception):
    pass


class Reader:
    """Buffered reads from a StreamReader, every byte recorded on the Conn."""

    def __init__(self, reader, conn):
        self.r = reader
        self.c = conn
        self.buf = bytearray()
        self.eof = False

    async def fill(self, limit=256 * 1024):
        if self.eof:
            raise Closed()
        try:
            b = await self.r.read(limit)
        except (ConnectionError, ssl.SSLError, OSError):
            b = b""
        if not b:
            self.eof = True
            raise Closed()
        self.c.record(b)
        self.buf += b

    async def readline(self, maxlen=1 << 20):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[: i + 1])
                del self.buf[: i + 1]
                return line
            if len(self.buf) > maxlen:
                raise ValueError("line too long")
            await self.fill()

    async def readexactly(self, n):
        while len(self.buf) < n:
            await self.fill()
        b = bytes(self.buf[:n])
        del self.buf[:n]
        return b

    async def discard(self, n, sink=None):
        """Read n bytes, passing them to sink(bytes) without keeping them."""
        while n > 0:
            if not self.buf:
                await self.fill(min(n, 1 << 20))
            take = min(n, len(self.buf))
            if sink:
                sink(bytes(self.buf[:take]))
            del self.buf[:take]
            n -= take


def parse_query(target):
    u = urllib.parse.urlsplit(target)
    q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
    return u.path, q


def hget(headers, name):
    """All values of a header (case-insensitive)."""
    n = name.lower()
    return [v for k, v in headers if k.lower() == n]


def response_head(status, reason, headers):
    lines = ["HTTP/1.1 %d %s" % (status, reason)]
    lines += ["%s: %s" % (k, v) for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


BAD_RESPONSES = {
    "cl_te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"0\r\n\r\n",
    "dup_cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "bad_cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
    "bad_status": b"HTTP/1.1 2OO OK\r\nContent-Length: 5\r\n\r\nhello",
    "bad_version": b"HTTP/9.9 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "space_colon": b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello",
    "nul_header": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 5\r\n\r\nhello",
    "http09": b"hello, no status line at all\n",
    "unknown_te": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\n\r\nhello",
    "bad_chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"
                 b"more\r\n0\r\n\r\n",
    "short_body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",
    "truncated_chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    "early_hints": b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                   b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfinal\n",
}

REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 204: "No Content",
    304: "Not Modified", 400: "Bad Request", 404: "Not Found", 417: "Expectation Failed",
    500: "Internal Server Error",
}


class Handler:
    def __init__(self, reader, writer, listener):
        self.w = writer
        peer = writer.get_extra_info("peername")
        self.c = ST.new_conn(listener, "%s:%s" % (peer[0], peer[1]) if peer else None)
        sslobj = writer.get_extra_info("ssl_object")
        if sslobj is not None:
            self.c.sni = ST.sni_by_obj.pop(id(sslobj), None)
            self.c.alpn = sslobj.selected_alpn_protocol()
            self.c.tls_version = sslobj.version()
        self.r = Reader(reader, self.c)
        self.idle_close = None

    async def write(self, b):
        self.w.write(b)
        await self.w.drain()

    async def run(self):
        try:
            while True:
                keep = await self.one_request()
                if not keep:
                    self.c.closed_by = "origin"
                    break
                if self.idle_close is not None and not self.r.buf:
                    try:
                        await asyncio.wait_for(self.r.fill(), self.idle_close)
                    except asyncio.TimeoutError:
                        self.c.closed_by = "origin (idle close)"
                        break
                    self.idle_close = None
        except Closed:
            self.c.closed_by = "peer"
        except (ConnectionError, ssl.SSLError, OSError) as e:
            self.c.closed_by = "error: %s" % e
        except ValueError as e:
            self.c.closed_by = "bad request: %s" % e
            try:
                await self.write(response_head(400, "Bad Request",
                                               [("Content-Length", "0"), ("Connection", "close")]))
            except Exception:
                pass
        finally:
            self.c.closed = time.time()
            try:
                self.w.close()
            except Exception:
                pass

    async def read_head(self):
        line = await self.r.readline()
        while line in (b"\r\n", b"\n"):
            line = await self.r.readline()
        parts = line.rstrip(b"\r\n").decode("latin-1").split(" ")
        if len(parts) != 3:
            raise ValueError("request line %r" % line)
        method, target, version = parts
        headers = []
        size = len(line)
        while True:
            h = await self.r.readline()
            size += len(h)
            if size > 1 << 20:
                raise ValueError("head too large")
            if h in (b"\r\n", b"\n"):
                break
            k, sep, v = h.rstrip(b"\r\n").decode("latin-1").partition(":")
            if not sep:
                raise ValueError("header line %r" % h)
            headers.append([k, v.strip(" \t")])
        return method, target, version, headers

    async def read_body(self, req, headers, sink):
        te = hget(headers, "transfer-encoding")
        cl = hget(headers, "content-length")
        if te:
            if te[-1].strip().lower() != "chunked":
                raise ValueError("transfer-encoding %r" % te)
            req["chunked"] = True
            req["chunks"] = []
            while True:
                line = await self.r.readline(8192)
                if not line.endswith(b"\r\n"):
                    raise ValueError("chunk line %r" % line)
                size_s, _, ext = line[:-2].decode("latin-1").partition(";")
                size = int(size_s.strip(), 16)
                if len(req["chunks"]) < 1000:
                    req["chunks"].append([size, ext])
                if size == 0:
                    break
                await self.r.discard(size, sink)
                if await self.r.readexactly(2) != b"\r\n":
                    raise ValueError("chunk data not followed by CRLF")
            trailers = []
            while True:
                t = await self.r.readline(65536)
                if t == b"\r\n":
                    break
                k, _, v = t.rstrip(b"\r\n").decode("latin-1").partition(":")
                trailers.append([k, v.strip()])
            req["trailers"] = trailers
        elif cl:
            n = int(cl[0])
            await self.r.discard(n, sink)

    async def one_request(self):
        method, target, version, headers = await self.read_head()
        path, q = parse_query(target)
        req = {
            "method": method, "target": target, "version": version, "headers": headers,
            "body_bytes": 0, "complete": False, "t": time.time(),
        }
        self.c.requests.append(req)
        conn_tokens = ",".join(hget(headers, "connection")).lower()
        close = ("close" in [t.strip() for t in conn_tokens.split(",")] or version == "HTTP/1.0"
                 or q.get("close") == "1")
        has_body = bool(hget(headers, "transfer-encoding") or hget(headers, "content-length"))

        if path == "/expect-reject":
            await self.write(response_head(417, "Expectation Failed",
                                           [("Content-Length", "0"), ("Connection", "close")]))
            return False
        if path in ("/ws", "/ws-close") and "websocket" in ",".join(hget(headers, "upgrade")).lower():
            req["complete"] = True
            await self.websocket(headers, q, path)
            return False

        if has_body and "100-continue" in ",".join(hget(headers, "expect")).lower():
            req["sent_100"] = True
            await self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

        h = hashlib.sha256()
        keep_body = bytearray()
        pause_after = int(q.get("pause_after", "-1"))
        pause = float(q.get("pause", "0"))
        do_hash = path != "/upload" or q.get("hash") == "1"
        state = {"paused": pause_after < 0}

        def sink(b):
            req["body_bytes"] += len(b)
            if do_hash:
                h.update(b)
            if len(keep_body) < 65536:
                keep_body.extend(b[: 65536 - len(keep_body)])

        rate = int(q.get("rate", "0"))
        if path == "/upload" and rate > 0:
            # A slow reader: at most `rate` bytes a second.
            orig_fill = self.r.fill

            async def fill(limit=256 * 1024):
                n = len(self.r.buf)
                await orig_fill(min(limit, max(rate // 10, 1)))
                await asyncio.sleep((len(self.r.buf) - n) / rate)

            self.r.fill = fill
        elif path == "/upload" and pause_after >= 0:
            # Read up to pause_after, stop reading for `pause` seconds, then go on.
            orig_fill = self.r.fill

            async def fill(limit=256 * 1024):
                if not state["paused"] and req["body_bytes"] + len(self.r.buf) >= pause_after:
                    state["paused"] = True
                    req["paused_at"] = req["body_bytes"] + len(self.r.buf)
                    await asyncio.sleep(pause)
                await orig_fill(limit)

            self.r.fill = fill
        await self.read_body(req, headers, sink)
        if path == "/upload" and (pause_after >= 0 or rate > 0):
            del self.r.fill
        req["complete"] = True
        req["body_sha256"] = h.hexdigest() if do_hash else None
        req["body"] = keep_body[:4096].decode("latin-1")
        head_only = method == "HEAD"
        return await self.respond(path, q, req, headers, head_only, close)

    async def simple(self, status, body, ctype="text/plain", extra=(), head_only=False, close=False):
        hdrs = [("Content-Type", ctype), ("Content-Length", str(len(body))), ("X-Origin", ST.name)]
        hdrs += list(extra)
        if close:
            hdrs.append(("Connection", "close"))
        await self.write(response_head(status, REASONS.get(status, "Whatever"), hdrs)
                         + (b"" if head_only else body))
        return not close

    async def respond(self, path, q, req, headers, head_only, close):
        if path.startswith("/lesson/"):
            path = "/" + path.rsplit("/", 1)[1]  # /lesson/.../NAME is answered as /NAME
        if path == "/small":
            if "idle_close" in q:
                self.idle_close = float(q["idle_close"])
            return await self.simple(200, ("hello from %s\n" % ST.name).encode(),
                                     head_only=head_only, close=close)
        if path == "/echo":
            d = {
                "origin": ST.name, "conn": self.c.id, "listener": self.c.listener,
                "sni": self.c.sni, "method": req["method"], "target": req["target"],
                "version": req["version"], "headers": req["headers"],
                "body_bytes": req["body_bytes"], "body_sha256": req["body_sha256"],
                "body": req["body"], "chunked": req.get("chunked", False),
                "trailers": req.get("trailers"),
            }
            return await self.simple(200, json.dumps(d).encode(), "application/json",
                                     head_only=head_only, close=close)
        if path == "/upload":
            d = {"origin": ST.name, "bytes": req["body_bytes"], "sha256": req["body_sha256"]}
            return await self.simple(200, json.dumps(d).encode(), "application/json",
                                     head_only=head_only, close=close)
        if path == "/cl":
            n = int(q.get("n", "100"))
            return await self.simple(200, pattern_slice(0, n) if n <= PATTERN_LEN else
                                     (PATTERN * (n // PATTERN_LEN + 1))[:n],
                                     "application/octet-stream", head_only=head_only, close=close)
        if path == "/chunked":
            n = int(q.get("n", "1000"))
            size = max(1, int(q.get("size", "100")))
            hdrs = [("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked")]
            if q.get("trailer"):
                hdrs.append(("Trailer", "X-Checksum"))
            if close:
                hdrs.append(("Connection", "close"))
            await self.write(response_head(200, "OK", hdrs))
            if head_only:
                return not close
            off = 0
            while off < n:
                k = min(size, n - off)
                data = b"".join(pattern_slice(o, min(PATTERN_LEN, off + k - o))
                                for o in range(off, off + k, PATTERN_LEN))
                await self.write(b"%x\r\n" % k + data + b"\r\n")
                off += k
            if q.get("trailer"):
                await self.write(b"0\r\nX-Checksum: %d\r\n\r\n" % n)
            else:
                await self.write(b"0\r\n\r\n")
            return not close
        if path == "/stream":
            n = int(q.get("n", str(1 << 20)))
            chunked = q.get("chunked") == "1"
            pause_after = int(q.get("pause_after", "-1"))
            pause = float(q.get("pause", "0"))
            hdrs = [("Content-Type", "application/octet-stream")]
            hdrs.append(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(n)))
            await self.write(response_head(200, "OK", hdrs))
            if head_only:
                return not close
            off = 0
            block = 256 * 1024
            big = PATTERN * (block // PATTERN_LEN)
            paused = pause_after < 0
            mid = q.get("mid") == "1"
            cut = int(q.get("cut", "-1"))
            while off < n:
                if 0 <= cut <= off:
                    req["sent"] = off
                    return False
                k = min(block, n - off)
                data = big[:k]
                if chunked:
                    data = b"%x\r\n" % k + data + b"\r\n"
                if mid and not paused and off + k >= pause_after:
                    # Stop inside this chunk: no chunk boundary for `pause` seconds.
                    self.w.write(data[:len(data) // 2])
                    await self.w.drain()
                    paused = True
                    await asyncio.sleep(pause)
                    data = data[len(data) // 2:]
                self.w.write(data)
                await self.w.drain()
                off += k
                if not paused and off >= pause_after:
                    paused = True
                    await asyncio.sleep(pause)
            if chunked:
                await self.write(b"0\r\n\r\n")
            req["sent"] = off
            return not close
        if path == "/close":
            n = int(q.get("n", "1000"))
            await self.write(response_head(200, "OK", [("Content-Type", "application/octet-stream"),
                                                       ("Connection", "close")]))
            if not head_only:
                off = 0
                while off < n:
                    k = min(PATTERN_LEN, n - off)
                    await self.write(pattern_slice(off, k))
                    off += k
            return False
        if path == "/slow":
            await asyncio.sleep(float(q.get("delay", "2")))
            return await self.simple(200, ("slow hello from %s\n" % ST.name).encode(),
                                     head_only=head_only, close=close)
        if path == "/slowbody":
            n = int(q.get("n", "10"))
            await self.write(response_head(200, "OK", [("Content-Length", str(n))]))
            await asyncio.sleep(float(q.get("delay", "2")))
            await self.write(b"x" * n)
            return not close
        if path == "/sse":
            n = int(q.get("n", "5"))
            interval = float(q.get("interval", "0.2"))
            hdrs = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                    ("Transfer-Encoding", "chunked")]
            await self.write(response_head(200, "OK", hdrs))
            i = 0
            while n == 0 or i < n:
                ev = ("id: %d\ndata: tick %d %.3f\n\n" % (i, i, time.time())).encode()
                await self.write(b"%x\r\n" % len(ev) + ev + b"\r\n")
                req["events_sent"] = i + 1
                i += 1
                await asyncio.sleep(interval)
            await self.write(b"0\r\n\r\n")
            return not close
        if path == "/status":
            code = int(q.get("code", "200"))
            extra = []
            if code in (204, 304) or code < 200:
                if code == 304:
                    extra.append(("ETag", '"v1"'))
                hdrs = [("X-Origin", ST.name)] + extra
                if close:
                    hdrs.append(("Connection", "close"))
                await self.write(response_head(code, REASONS.get(code, "Whatever"), hdrs))
                return not close
            return await self.simple(code, b"status %d\n" % code, head_only=head_only, close=close)
        if path == "/hop":
            extra = [("Connection", "X-Up-Secret, Keep-Alive"), ("X-Up-Secret", "1"),
                     ("Keep-Alive", "timeout=5"), ("X-End-To-End", "kept")]
            return await self.simple(200, b"hop\n", extra=extra, head_only=head_only, close=close)
        if path == "/drop":
            return False
        if path == "/badresp":
            await self.write(BAD_RESPONSES[q.get("kind", "cl_te")])
            return q.get("kind") == "early_hints" and not close
        return await self.simple(404, b"not found\n", head_only=head_only, close=close)

    async def websocket(self, headers, q, path):
        key = (hget(headers, "sec-websocket-key") or [""])[0].strip()
        accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
        self.c.ws = {"frames_in": 0, "messages_in": 0, "bytes_in": 0, "close_code_in": None,
                     "close_reason_in": None, "close_sent": None, "first_messages": []}
        await self.write(response_head(101, "Switching Protocols", [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept)]))
        ws = ServerConnection(state=OPEN, max_size=None)
        close_after = int(q.get("after", "0")) if path == "/ws-close" else 0
        close_code = int(q.get("code", "1000"))
        msgs = 0
        while True:
            try:
                if not self.r.buf:
                    await self.r.fill()
                data = bytes(self.r.buf)
                self.r.buf.clear()
                ws.receive_data(data)
            except Closed:
                ws.receive_eof()
            for ev in ws.events_received():
                if isinstance(ev, Frame):
                    self.c.ws["frames_in"] += 1
                    if ev.opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                        self.c.ws["bytes_in"] += len(ev.data)
                        if ev.fin:
                            msgs += 1
                            self.c.ws["messages_in"] = msgs
                        if len(self.c.ws["first_messages"]) < 10:
                            self.c.ws["first_messages"].append(
                                ev.data[:200].decode("latin-1"))
                        if ws.state is OPEN:
                            ws.send_frame(Frame(ev.opcode, ev.data, ev.fin))
                        if close_after and msgs >= close_after and ws.state is OPEN:
                            ws.send_close(close_code, "origin closes")
                            self.c.ws["close_sent"] = close_code
                    elif ev.opcode == OP_CLOSE:
                        c = Close.parse(ev.data) if ev.data else None
                        self.c.ws["close_code_in"] = c.code if c else 1005
                        self.c.ws["close_reason_in"] = c.reason if c else ""
            out = ws.data_to_send()
            eof = False
            for b in out:
                if b == b"":
                    eof = True
                else:
                    self.w.write(b)
            await self.w.drain()
            if eof or ws.state is State.CLOSED or self.r.eof:
                if eof and self.w.can_write_eof():
                    try:
                        self.w.write_eof()
                    except Exception:
                        pass
                # Wait briefly for the peer's EOF so the record is complete.
                try:
                    await asyncio.wait_for(self.r.r.read(1), 2)
                except Exception:
                    pass
                return


async def control(reader, writer):
    try:
        line = await asyncio.wait_for(reader.readline(), 10)
        while True:
            h = await asyncio.wait_for(reader.readline(), 10)
            if h in (b"\r\n", b"\n", b""):
                break
        method, target, _ = line.decode().split(" ", 2)
        path, q = parse_query(target)
        full = q.get("full") == "1"
        if path == "/stats":
            body = ST.stats()
        elif path == "/conns":
            since = int(q.get("since", "0"))
            body = [c.as_json(full) for c in ST.conns if c.id >= since]
        elif path == "/conn":
            cid = int(q["id"])
            body = [c.as_json(True) for c in ST.conns if c.id == cid]
            body = body[0] if body else None
        elif path == "/reset":
            ST.conns = [c for c in ST.conns if c.closed is None]
            for c in ST.conns:
                c.data = bytearray()
            body = ST.stats()
        else:
            body = {"error": "unknown"}
        out = json.dumps(body).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % len(out) + out)
        await writer.drain()
    except Exception as e:  # the control port must never take the origin down
        print("origin: control error: %r" % e, file=sys.stderr)
    finally:
        writer.close()


def addr(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


async def main():
    global ST
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="origin")
    ap.add_argument("--listen", action="append", default=[], help="host:port (plain)")
    ap.add_argument("--tls-listen", action="append", default=[], help="host:port (TLS)")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--control", required=True)
    a = ap.parse_args()
    ST = State_(a.name)

    servers = []
    for l in a.listen:
        h, p = addr(l)
        servers.append(await asyncio.start_server(
            lambda r, w: Handler(r, w, "plain").run(), h, p, limit=1 << 20, backlog=1024))
    if a.tls_listen:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        ctx.set_alpn_protocols(["http/1.1"])

        def sni_cb(sslobj, name, _ctx):
            ST.sni_by_obj[id(sslobj)] = name
            return None

        ctx.sni_callback = sni_cb
        for l in a.tls_listen:
            h, p = addr(l)
            servers.append(await asyncio.start_server(
                lambda r, w: Handler(r, w, "tls").run(), h, p, ssl=ctx, limit=1 << 20,
                backlog=1024))
    h, p = addr(a.control)
    servers.append(await asyncio.start_server(control, h, p))
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, lambda: stop.done() or stop.set_result(None))
    print("READY", flush=True)
    await stop
    for s in servers:
        s.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    os._exit(0)
