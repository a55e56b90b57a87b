"""Shared machinery of the integration tests: origins, daemons, configs, certificates, clients.

Everything here is bounded in time: every socket has a timeout, every child
process is waited for with a timeout and killed if it does not go.
"""

import base64
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

PY = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class TestFailure(AssertionError):
    pass


class Skip(Exception):
    """Raised by a test that cannot run here (say why); reported as SKIP, not as a pass."""


def note(msg):
    """A "# ..." line for whoever runs with LG_IT_VERBOSE=1 (measurements, not verdicts)."""
    if os.environ.get("LG_IT_VERBOSE"):
        print("# " + msg, flush=True)


def check(cond, msg):
    """Fail the running test with msg unless cond."""
    if not cond:
        raise TestFailure(msg)


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=5.0, proc=None, host="127.0.0.1"):
    """Wait until something accepts connections on port; False if not in time or proc died."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            s = socket.create_connection((host, port), timeout=0.5)
            s.close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def rss_kb(pid):
    """VmRSS of a process in kB (None if it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler:
    """Samples a process's VmRSS every interval seconds in a thread; .max after stop()."""

    def __init__(self, pid, interval=0.02):
        self.pid = pid
        self.interval = interval
        self.max = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            r = rss_kb(self.pid)
            if r is not None:
                self.max = max(self.max, r)
                self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join(2)


# ---------------------------------------------------------------- certificates


class Certs:
    """A test CA and server certificates, made with the openssl CLI on first use."""

    def __init__(self, d):
        self.dir = os.path.join(d, "certs")
        self.made = {}
        self.ca = None

    def _run(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.dir, capture_output=True,
                           timeout=30)
        if r.returncode != 0:
            raise TestFailure("openssl %s failed: %s" % (args[0], r.stderr.decode()[-400:]))

    def _make_ca(self):
        os.makedirs(self.dir, exist_ok=True)
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
                  "-subj", "/CN=lessongate test CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self.ca = os.path.join(self.dir, "ca.pem")

    def server(self, name, alt=()):
        """(certificate chain path, key path) for DNS name (plus alt names, IP 127.0.0.1)."""
        if self.ca is None:
            self._make_ca()
        if name in self.made:
            return self.made[name]
        san = ",".join(["DNS:%s" % n for n in (name,) + tuple(alt)] + ["IP:127.0.0.1"])
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n" % san)
        self._run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        self._run("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                  "-CAcreateserial", "-out", name + ".crt", "-days", "30", "-extfile", ext)
        # The chain file: leaf then CA (what a server sends).
        chain = os.path.join(self.dir, name + ".chain.pem")
        with open(chain, "w") as out:
            for p in (name + ".crt", "ca.pem"):
                with open(os.path.join(self.dir, p)) as f:
                    out.write(f.read())
        self.made[name] = (chain, os.path.join(self.dir, name + ".key"))
        return self.made[name]

    def client_context(self, alpn=None):
        """A client SSLContext that trusts the test CA."""
        if self.ca is None:
            self._make_ca()
        ctx = ssl.create_default_context(cafile=self.ca)
        if alpn:
            ctx.set_alpn_protocols(alpn)
        return ctx


# ---------------------------------------------------------------- origin


class Origin:
    """A running tests/integration/origin.py with its control port."""

    def __init__(self, env, name, tls=False):
        self.env = env
        self.name = name
        self.port = free_port()
        self.control = free_port()
        self.tls_port = free_port() if tls else None
        args = [PY, os.path.join(HERE, "origin.py"), "--name", name,
                "--listen", "127.0.0.1:%d" % self.port,
                "--control", "127.0.0.1:%d" % self.control]
        if tls:
            cert, key = env.certs.server("origin.test")
            args += ["--tls-listen", "127.0.0.1:%d" % self.tls_port, "--cert", cert, "--key", key]
        self.log = open(os.path.join(env.dir, "origin-%s.log" % name), "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        r, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline() if r else b""
        if line.strip() != b"READY":
            self.stop()
            raise TestFailure("origin %s did not start (see %s)" % (name, self.log.name))

    def _get(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.control, path),
                                    timeout=10) as r:
            return json.loads(r.read())

    def stats(self):
        return self._get("/stats")

    def conns(self, since=0, full=False):
        return self._get("/conns?since=%d%s" % (since, "&full=1" if full else ""))

    def conn(self, cid):
        return self._get("/conn?id=%d" % cid)

    def mark(self):
        """A mark to compare against later: (next connection id, total bytes received, time)."""
        s = self.stats()
        return (s["next_id"], s["bytes_in"], time.time())

    def since(self, mark):
        """(new connections, bytes received) since mark."""
        s = self.stats()
        return (s["next_id"] - mark[0], s["bytes_in"] - mark[1])

    def requests_since(self, mark):
        """Every request the origin began to parse after mark, in arrival order."""
        out = [r for c in self.conns() for r in c["requests"] if r["t"] >= mark[2]]
        return sorted(out, key=lambda r: r["t"])

    def assert_nothing_since(self, mark, settle=0.3, what="the request"):
        """Prove that the origin received no byte since mark (after letting stragglers arrive)."""
        time.sleep(settle)
        n, b = self.since(mark)
        if b:
            data = []
            for c in self.conns(full=True):
                if c["id"] >= mark[0] or c["closed"] is None:
                    data.append(c["data"][-200:])
            raise TestFailure("the origin received %d bytes of %s (%r)" % (b, what, data[-1:]))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


# ---------------------------------------------------------------- configs


def cstr(s):
    return '"%s"' % str(s).replace("\\", "\\\\").replace('"', '\\"')


def cval(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dict):
        return "{ " + " ".join("%s = %s;" % (k, cval(x)) for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        if v and isinstance(v[0], dict):
            return "( " + ", ".join(cval(x) for x in v) + " )"
        return "[ " + ", ".join(cval(x) for x in v) + " ]"
    return cstr(v)


def make_config(listen, upstream, workers=1, timeouts=None, limits=None, extra=None,
                state="memory"):
    """The text of a lessongate.conf (libconfig) for a proxy-only test instance.

    Clocks stay in memory (state.store = "memory") unless extra has a `state` group or
    state=None leaves the section out (the default store, "local", would want root to
    create /var/lib/lessongate/state)."""
    cal = [os.path.join(ROOT, "conf", "calendar", f) for f in ("cn-2025.conf", "cn-2026.conf")
           if os.path.exists(os.path.join(ROOT, "conf", "calendar", f))]
    root = {"instance": "it", "workers": workers, "listen": listen, "upstream": upstream}
    if timeouts:
        root["timeouts"] = timeouts
    if limits:
        root["limits"] = limits
    if cal:
        root["calendar"] = {"files": cal}
    if state and not (extra and "state" in extra):
        root["state"] = {"store": state}
    if extra:
        root.update(extra)
    return "# generated by tests/integration\n" + "".join(
        "%s = %s;\n" % (k, cval(v)) for k, v in root.items())


# ---------------------------------------------------------------- daemon


class DaemonDied(TestFailure):
    pass


class Daemon:
    """A running lessongated with a generated config."""

    def __init__(self, env, config_text, port, name="lg", tls_port=None, env_extra=None,
                 wait=True):
        self.env = env
        self.port = port
        self.tls_port = tls_port
        self.ports = [p for p in (port, tls_port) if p]
        env.seq += 1
        self.name = "%s-%d" % (name, env.seq)
        self.conf = os.path.join(env.dir, self.name + ".conf")
        with open(self.conf, "w") as f:
            f.write(config_text)
        self.logpath = os.path.join(env.dir, self.name + ".log")
        self.log = open(self.logpath, "wb")
        e = dict(os.environ)
        e.update(env_extra or {})
        self.proc = subprocess.Popen([env.binary, "-c", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=e)
        self.pid = self.proc.pid
        self.expect_exit = False
        env.daemons.append(self)
        if wait:
            for p in self.ports:
                if not wait_port(p, 10, self.proc):
                    self.stop()
                    raise TestFailure("lessongated did not listen on %d: %s" % (p, self.tail()))

    def tail(self, n=1200):
        try:
            if not self.log.closed:
                self.log.flush()
            with open(self.logpath, "rb") as f:
                data = f.read()
            return data[-n:].decode("utf-8", "replace").strip().replace("\n", " | ")
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def check_alive(self):
        """Fail the test if the daemon died on its own."""
        rc = self.proc.poll()
        if rc is not None and not self.expect_exit:
            how = "signal %d" % -rc if rc < 0 else "exit code %d" % rc
            raise DaemonDied("lessongated died (%s): %s" % (how, self.tail()))

    def rss(self):
        return rss_kb(self.pid)

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def term(self):
        self.expect_exit = True
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def rewrite(self, config_text):
        with open(self.conf + ".new", "w") as f:
            f.write(config_text)
        os.rename(self.conf + ".new", self.conf)

    def stop(self):
        """SIGTERM, then SIGKILL; returns the exit status."""
        if self.proc.poll() is None:
            self.expect_exit = True
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not self.log.closed:
            self.log.close()
        if self in self.env.daemons:
            self.env.daemons.remove(self)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        try:
            if et is None:
                self.check_alive()
        finally:
            self.stop()


class Env:
    """What every test gets: a temp dir, the binary, lazily made certs and origins."""

    def __init__(self, d, binary):
        self.dir = d
        self.binary = binary
        self.certs = Certs(d)
        self.daemons = []
        self.seq = 0
        self._origins = {}
        self.cache = {}

    def origin(self, name="A", tls=False):
        o = self._origins.get(name)
        if o is None or o.proc.poll() is not None:
            o = Origin(self, name, tls=tls)
            self._origins[name] = o
        return o

    def daemon(self, upstream=None, workers=1, timeouts=None, limits=None, tls=None,
               plain=True, listen_extra=None, extra=None, env_extra=None, test_hooks=False,
               wait=True, name="lg"):
        """Start lessongated in front of upstream (default: origin A, plain)."""
        port = free_port() if plain else None
        listen = []
        if plain:
            l = {"address": "127.0.0.1:%d" % port}
            if test_hooks:
                l["test_hooks"] = True
            listen.append(l)
        tls_port = None
        if tls:
            tls_port = free_port()
            l = {"address": "127.0.0.1:%d" % tls_port, "tls": tls}
            if test_hooks:
                l["test_hooks"] = True
            listen.append(l)
        listen += listen_extra or []
        if upstream is None:
            upstream = {"address": "127.0.0.1:%d" % self.origin().port}
        text = make_config(listen, upstream, workers=workers, timeouts=timeouts, limits=limits,
                           extra=extra)
        return Daemon(self, text, port, name=name, tls_port=tls_port, env_extra=env_extra,
                      wait=wait)

    def shared_daemon(self, key, **kw):
        """A daemon kept for the rest of the module (restarted if it died)."""
        d = self.cache.get(key)
        if d is not None and not d.alive():
            d.stop()
            d = None
        if d is None:
            d = self.daemon(**kw)
            self.cache[key] = d
        return d

    def end_module(self):
        for d in list(self.cache.values()):
            d.stop()
        self.cache.clear()
        self.cleanup_daemons()

    def cleanup_daemons(self):
        for d in list(self.daemons):
            d.stop()

    def close(self):
        self.end_module()
        for o in self._origins.values():
            o.stop()


# ---------------------------------------------------------------- raw HTTP


def connect(port, timeout=5.0, tls_ctx=None, server_hostname=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    if tls_ctx is not None:
        s = tls_ctx.wrap_socket(s, server_hostname=server_hostname)
    return s


class Response:
    def __init__(self, status, reason, headers, body, version):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.version = version

    def header(self, name):
        n = name.lower()
        v = [x for k, x in self.headers if k.lower() == n]
        return v[0] if v else None

    def headers_named(self, name):
        n = name.lower()
        return [x for k, x in self.headers if k.lower() == n]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %s %r>" % (self.status, self.reason, self.body[:80])


class ConnClosed(Exception):
    pass


class HttpConn:
    """An HTTP/1.1 client over one raw socket: send bytes, read responses strictly."""

    def __init__(self, port, timeout=5.0, tls_ctx=None, server_hostname=None, sock=None):
        self.s = sock or connect(port, timeout, tls_ctx, server_hostname)
        self.buf = bytearray()
        self.eof = False
        self.reset = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.s.sendall(data)

    def _fill(self):
        if self.eof:
            raise ConnClosed("connection closed by the proxy")
        try:
            b = self.s.recv(262144)
        except ConnectionResetError:
            self.reset = True
            b = b""
        except socket.timeout:
            raise TestFailure("timed out waiting for the proxy (have %r)" % bytes(self.buf[:200]))
        except ssl.SSLError as e:
            if "EOF" in str(e) or "UNEXPECTED_EOF" in str(e):
                b = b""
            else:
                raise
        if not b:
            self.eof = True
            raise ConnClosed("connection closed by the proxy")
        self.buf += b

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            if len(self.buf) > 1 << 20:
                raise TestFailure("response line too long")
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        b = bytes(self.buf[:n])
        del self.buf[:n]
        return b

    def read_head(self):
        """(status, reason, headers, version) of the next response head, 1xx included."""
        line = self._line()
        parts = line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise TestFailure("bad status line from the proxy: %r" % line[:200])
        headers = []
        while True:
            h = self._line()
            if h == b"":
                break
            k, sep, v = h.decode("latin-1").partition(":")
            if not sep or k != k.strip() or not k:
                raise TestFailure("bad header line from the proxy: %r" % h[:200])
            headers.append((k, v.strip(" \t")))
        return int(parts[1]), parts[2] if len(parts) > 2 else "", headers, parts[0]

    def read_response(self, head_only=False, skip_1xx=True, sink=None):
        """The next response; body per framing (head_only for HEAD requests)."""
        while True:
            status, reason, headers, version = self.read_head()
            if not (skip_1xx and 100 <= status < 200 and status != 101):
                break
        r = Response(status, reason, headers, b"", version)
        if head_only or status in (204, 304) or 100 <= status < 200:
            return r
        te = r.header("transfer-encoding")
        cl = r.headers_named("content-length")
        body = bytearray()
        put = sink or body.extend
        if te is not None:
            if te.strip().lower() != "chunked":
                raise TestFailure("proxy sent Transfer-Encoding %r" % te)
            if cl:
                raise TestFailure("proxy sent both Content-Length and Transfer-Encoding")
            while True:
                line = self._line()
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                while size > 0:
                    if not self.buf:
                        self._fill()
                    take = min(size, len(self.buf))
                    put(bytes(self.buf[:take]))
                    del self.buf[:take]
                    size -= take
                if self._exact(2) != b"\r\n":
                    raise TestFailure("proxy sent chunk data without CRLF")
            trailers = []
            while True:
                t = self._line()
                if t == b"":
                    break
                trailers.append(t)
            r.trailers = trailers
        elif cl:
            if len(set(cl)) != 1 or len(cl) != 1:
                raise TestFailure("proxy sent Content-Length %r" % cl)
            n = int(cl[0])
            while n > 0:
                if not self.buf:
                    self._fill()
                take = min(n, len(self.buf))
                put(bytes(self.buf[:take]))
                del self.buf[:take]
                n -= take
        else:
            try:
                while True:
                    if self.buf:
                        put(bytes(self.buf))
                        self.buf.clear()
                    self._fill()
            except ConnClosed:
                pass
        r.body = bytes(body)
        return r

    def request(self, method, target, headers=(), body=None, host="test.local", head_only=None):
        h = "%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, target, host)
        for k, v in headers:
            h += "%s: %s\r\n" % (k, v)
        if body is not None:
            h += "Content-Length: %d\r\n" % len(body)
        self.send(h.encode("latin-1") + b"\r\n" + (body or b""))
        return self.read_response(head_only=(method == "HEAD") if head_only is None else head_only)

    def closed_within(self, timeout=2.0):
        """True if the proxy closes the connection within timeout (data before EOF is an error)."""
        if self.eof:
            return True
        self.s.settimeout(timeout)
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                try:
                    b = self.s.recv(65536)
                except ConnectionResetError:
                    self.eof = self.reset = True
                    return True
                except ssl.SSLError:
                    self.eof = True
                    return True
                if not b:
                    self.eof = True
                    return True
                self.buf += b
            return False
        except socket.timeout:
            return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def get(port, target="/small", **kw):
    with HttpConn(port, **{k: v for k, v in kw.items() if k in ("timeout", "tls_ctx",
                                                                   "server_hostname")}) as c:
        return c.request("GET", target, headers=kw.get("headers", ()), host=kw.get("host",
                                                                                   "test.local"))


def curl(*args, timeout=20):
    """Run curl; (exit code, stdout bytes, stderr text)."""
    r = subprocess.run(["curl", "-sS", "--max-time", str(max(1, timeout - 2))] + list(args),
                       capture_output=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace").strip()


def ws_key():
    return base64.b64encode(os.urandom(16)).decode()
