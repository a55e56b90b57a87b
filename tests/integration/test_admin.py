"""The admin listener (issue 11): /metrics parsed by python3-prometheus-client with counters
moving after scripted traffic (allowed, refused by rule, free, a forced close, a JWT cache
hit), the JSON of /admin/v1/status, /students/{id} and /overview, 404s and 405s, reloads over
HTTP (success and an error naming file:line), the listener off by default and refused on a
client listener's address (also spelt differently: localhost, 08080; and audit.listen), an
mTLS variant refusing a client without a certificate, `lessongatectl status|student|reload`
against the running daemon (and against silent or dripping listeners: never a hang), a
reload POSTed while SIGHUP moves the listener (answered at once, the proxy never stalls), a
TLS listener kept across reloads, the Host/Origin checks, and folded recent violations.

The daemon runs under libfaketime on a school day at 15:00 (Asia/Shanghai) with a 3 s
lesson and a 2 s break; students are named by the trusted identity header, or by an HS256
token for the cache test.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import ssl
import subprocess
import threading
import time

from harness import HttpConn, Skip, check, free_port
from test_audit import Keys as AuditKeys, ctl_binary, faketime_lib, make_ca, make_client

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # pragma: no cover - scripts/deps test installs it
    text_string_to_metric_families = None

CAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "conf", "calendar",
                   "cn-2026.conf")
START = "2026-09-21 15:00:00"  # a Monday, a school day


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Admin:
    """A lessongated with the admin listener (plain, or TLS with client certificates)."""

    def __init__(self, env, tls=None, audit=False, name="adm", jwt_secret=None, state=None,
                 preload=None, env_more=None):
        self.env = env
        self.aport = free_port()
        listen = {"address": "127.0.0.1:%d" % self.aport}
        if tls:
            listen["tls"] = tls
        identity = {"header": {"name": "X-Student-Id", "trusted_peers": ["127.0.0.1/32"]}}
        if jwt_secret:
            identity["jwt"] = {"keys": jwt_secret, "algorithms": ["HS256"]}
        extra = {
            "identity": identity,
            "routes": [{"prefix": "/lesson/", "class": "subject"},
                       {"path": "/ws", "class": "subject"}],
            "rules": {"warn_before": "1s", "subject": {"lesson_max": "3s", "break_min": "2s"}},
            "calendar": {"files": [CAL], "default_region": "533100"},
            "admin": {"listen": listen},
        }
        if state:
            extra["state"] = state
        if audit:
            k = AuditKeys(env, "adm%d" % env.seq)
            extra["audit"] = {"dir": os.path.join(env.dir, "audit-adm-%d" % env.seq),
                              "signing_key": k.sign, "pseudonym_key": k.pseudo,
                              "name": "it.test/gw"}
        self.extra = extra
        envx = {"LD_PRELOAD": faketime_lib(), "FAKETIME": "@" + START, "TZ": "Asia/Shanghai"}
        if tls:
            envx = {"TZ": "Asia/Shanghai"}  # certificates are checked against the real clock
        if preload:
            envx["LD_PRELOAD"] = (envx.get("LD_PRELOAD", "") + " " + preload).strip()
        envx.update(env_more or {})
        self.d = env.daemon(workers=2, extra=extra, env_extra=envx, name=name)
        self.port = self.d.port
        self.ctx = None
        wait_listening(self.aport)

    def get(self, target, student=None, headers=()):
        """One proxied request on a fresh connection; the Response."""
        with HttpConn(self.port, timeout=10) as c:
            h = "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" % target
            if student is not None:
                h += "X-Student-Id: %s\r\n" % student
            for k, v in headers:
                h += "%s: %s\r\n" % (k, v)
            c.send((h + "\r\n").encode())
            return c.read_response()

    def admin(self, method, path, ctx=None):
        """(status, headers dict, body bytes) from the admin listener."""
        if ctx is not None:
            c = http.client.HTTPSConnection("127.0.0.1", self.aport, context=ctx, timeout=10)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.aport, timeout=10)
        try:
            c.request(method, path)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def json(self, method, path, status=200):
        st, h, body = self.admin(method, path)
        check(st == status, "%s %s: %d, expected %d: %r" % (method, path, st, status, body[:300]))
        check(h.get("content-type") == "application/json",
              "%s %s: content type %r" % (method, path, h.get("content-type")))
        return json.loads(body)

    def metrics(self):
        """{(sample name, frozenset(labels)): value} through the independent parser."""
        if text_string_to_metric_families is None:
            raise Skip("python3-prometheus-client is not installed")
        st, h, body = self.admin("GET", "/metrics")
        check(st == 200, "/metrics: %d" % st)
        check(h.get("content-type", "").startswith("text/plain; version=0.0.4"),
              "/metrics content type %r" % h.get("content-type"))
        out = {}
        for fam in text_string_to_metric_families(body.decode("utf-8")):
            for s in fam.samples:
                out[(s.name, frozenset(s.labels.items()))] = s.value
        return out


def until_refused(a, student, limit=8.0):
    """Lesson requests every 0.4 s (one lesson, no break) until one is refused; its status."""
    t0 = time.time()
    st = a.get("/lesson/small", student).status
    while st == 200 and time.time() - t0 < limit:
        time.sleep(0.4)
        st = a.get("/lesson/small", student).status
    return st


def wait_listening(port, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on admin port %d" % port)


def m(metrics, name, **labels):
    return metrics.get((name, frozenset(labels.items())), None)


def ws_until_closed(port, student, target="/ws", timeout=10.0):
    """Open a WebSocket on a lesson route; the close code the proxy sends (None if none)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nX-Student-Id: %s\r\n\r\n"
               % (target, key, student)).encode())
    data = b""
    end = time.time() + timeout
    while b"\r\n\r\n" not in data and time.time() < end:
        data += s.recv(4096)
    check(data.startswith(b"HTTP/1.1 101"), "WebSocket upgrade: %r" % data[:200])
    rest = data.split(b"\r\n\r\n", 1)[1]
    while time.time() < end:
        if len(rest) >= 2 and rest[0] & 0x0F == 8:
            n = rest[1] & 0x7F
            if len(rest) >= 2 + n and n >= 2:
                s.close()
                return rest[2] << 8 | rest[3]
        chunk = s.recv(4096)
        if not chunk:
            break
        rest += chunk
    s.close()
    return None


def test_metrics_move_with_traffic(env):
    """Allowed, refused by rule, free, a forced close, a JWT cache hit: each moves its counter."""
    secret = os.path.join(env.dir, "hs256-admin.secret")
    key = b64u(os.urandom(36)).encode()
    with open(secret, "wb") as f:
        f.write(key)
    a = Admin(env, jwt_secret=secret)
    before = a.metrics()
    check(m(before, "lessongate_build_info", version=m_version(before)) == 1,
          "build_info is 1")
    check(m(before, "lessongate_config_generation") == 1, "generation 1 at start")
    check(m(before, "lessongate_workers") == 2, "two workers")
    # Allowed, then refused by lesson_limit (3 s lesson, requests every 0.4 s).
    check(until_refused(a, "stu-a") == 429, "lesson limit reached")
    check(a.get("/small").status == 200, "free route")
    check(a.get("/lesson/small").status == 401, "unidentified lesson request")
    # A WebSocket closed at its deadline (a new student: a fresh 3 s lesson).
    code = ws_until_closed(a.port, "stu-ws")
    check(code == 4001, "the WebSocket was closed with 4001 at its deadline: %r" % code)
    # A token verified once, then found in the cache.
    now = int(time.mktime(time.strptime(START, "%Y-%m-%d %H:%M:%S")))
    si = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64u(
        json.dumps({"sub": "stu-jwt", "iat": now - 60, "exp": now + 86400 * 400}).encode())
    tok = si + "." + b64u(hmac.new(key, si.encode(), hashlib.sha256).digest())
    for _ in range(2):
        r = a.get("/lesson/small", headers=[("Authorization", "Bearer " + tok)])
        check(r.status == 200, "token request: %d %r" % (r.status, r.body[:200]))
    time.sleep(0.3)
    after = a.metrics()

    def delta(name, **labels):
        return (m(after, name, **labels) or 0) - (m(before, name, **labels) or 0)

    allowed = delta("lessongate_requests_total", **{"class": "subject", "outcome": "allowed"})
    check(allowed >= 4, "allowed lesson requests counted: %s" % allowed)
    check(delta("lessongate_requests_total", **{"class": "subject", "outcome": "refused"}) == 2,
          "refused: the 429 and the 401")
    check(delta("lessongate_requests_total", **{"class": "free", "outcome": "free"}) == 1,
          "the free request")
    check(delta("lessongate_refusals_total", rule="lesson_limit", **{"class": "subject"}) == 1,
          "one lesson_limit refusal")
    check(delta("lessongate_refusals_total", rule="unidentified", **{"class": "subject"}) == 1,
          "one unidentified refusal")
    check(delta("lessongate_lessons_started_total", **{"class": "subject"}) == 3,
          "three lessons started (stu-a, stu-ws, stu-jwt)")
    check(delta("lessongate_forced_closes_total", rule="lesson_limit", how="websocket") == 1,
          "one forced close of a WebSocket")
    check(delta("lessongate_forced_close_lateness_seconds_count") == 1, "lateness observed")
    check(m(after, "lessongate_forced_close_lateness_seconds_bucket", le="+Inf") == 1,
          "+Inf bucket holds it")
    check(m(after, "lessongate_forced_close_lateness_seconds_bucket", le="1") == 1,
          "closed within a second of its deadline: %r" % sorted(
              (dict(k[1]).get("le"), v) for k, v in after.items()
              if k[0] == "lessongate_forced_close_lateness_seconds_bucket"))
    check(delta("lessongate_jwt_cache_misses_total") == 1, "one token verified")
    check(delta("lessongate_jwt_cache_hits_total") == 1, "one cache hit")
    check(m(after, "lessongate_students") == 3, "three students in the table")
    check(m(after, "lessongate_lesson_tunnels_open", **{"class": "subject"}) == 0,
          "no tunnel open any more")
    check(m(after, "lessongate_store_up", kind="memory") == 1, "store up")
    check(m(after, "lessongate_calendar_missing_years") == 0, "2026 is loaded (Sept 21 + 60 d)")
    # The overview has the refusal among the recent violations, with the id (no audit log).
    ov = a.json("GET", "/admin/v1/overview")
    check(ov["refusals_per_minute"]["lesson_limit"][-1] >= 1 or
          ov["refusals_per_minute"]["lesson_limit"][-2] >= 1, "refusal in the last minutes")
    check(len(ov["refusals_per_minute"]["lesson_limit"]) == 60, "60 minutes")
    v = ov["recent_violations"][0]
    check(v["rule"] == "lesson_limit" and v["student"] == "stu-a" and v["route"] == "/lesson/"
          and v["class"] == "subject" and v["time"].startswith("2026-09-21T15:00:"),
          "recent violation: %r" % v)
    check(set(ov["open_lessons"]) == {"subject", "non_subject"}, "open lessons per class")


test_metrics_move_with_traffic.timeout = 60


def m_version(metrics):
    for (name, labels), _ in metrics.items():
        if name == "lessongate_build_info":
            return dict(labels)["version"]
    raise AssertionError("no lessongate_build_info")


def test_admin_json_documents(env):
    """Status, student (and 404), overview, 405 with Allow, unknown paths 404 JSON, HTML root."""
    a = Admin(env, audit=True)
    st = a.json("GET", "/admin/v1/status")
    for k, t in (("version", str), ("instance", str), ("mode", str), ("config", dict),
                 ("started", str), ("uptime_s", int), ("workers", int), ("listeners", list),
                 ("today", list), ("unknown_year", dict), ("store", dict), ("audit", dict)):
        check(isinstance(st.get(k), t), "status.%s is %s: %r" % (k, t.__name__, st.get(k)))
    with open(a.d.conf, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    check(st["config"] == {"file": a.d.conf, "generation": 1, "sha256": sha},
          "config: %r" % st["config"])
    check(st["workers"] == 2, "workers")
    kinds = [(l["kind"], l["address"]) for l in st["listeners"]]
    check(("admin", "127.0.0.1:%d" % a.aport) in kinds and
          ("client", "127.0.0.1:%d" % a.port) in kinds, "listeners: %r" % kinds)
    check(st["today"][0] == {"region": None, "kind": "workday", "name": None,
                             "unknown_year": False} and st["today"][1]["region"] == "533100",
          "today: %r" % st["today"])
    check(st["unknown_year"]["applies"] == "weekly", "unknown_year: %r" % st["unknown_year"])
    check(st["store"] == {"kind": "memory", "up": True, "state": "ok", "since": None,
                          "last_error": None, "local_decisions": 0, "unreconciled": 0,
                          "students": 0}, "store: %r" % st["store"])
    check(st["audit"]["writable"] is True and st["audit"]["records"] >= 1, "audit: %r"
          % st["audit"])
    # A student: unknown → 404 JSON; after a request, its clock.
    err = a.json("GET", "/admin/v1/students/nobody", status=404)
    check("no such student" in err["error"], "404 body: %r" % err)
    check(a.get("/lesson/small", "stu%2Fodd").status == 200, "lesson request")
    check(a.get("/lesson/small", "stu-b").status == 200, "lesson request")
    s = a.json("GET", "/admin/v1/students/stu-b")
    check(s["student"] == "stu-b" and s["region"] == "533100", "student: %r" % s)
    check(s["lesson"]["start"].startswith("2026-09-21T15:00:") and s["lesson"]["used_s"] >= 0,
          "lesson: %r" % s["lesson"])
    check(s["open_tunnels"] == 0 and s["tunnels_hold_lesson"] is False, "tunnels: %r" % s)
    sub = s["classes"]["subject"]
    check(sub["allowed_now"] is True and sub["rule"] is None and 0 < sub["remaining_s"] <= 3
          and sub["break_ends"] is not None, "subject now: %r" % sub)
    # Percent-encoded ids; the access is logged with the audit pseudonym, not the id.
    s = a.json("GET", "/admin/v1/students/stu%252Fodd")
    check(s["student"] == "stu%2Fodd", "encoded id: %r" % s["student"])
    time.sleep(0.3)
    log = open(a.d.logpath, "rb").read().decode("utf-8", "replace")
    lines = [l for l in log.splitlines() if "admin student lookup" in l]
    check(len(lines) == 3, "three lookups logged: %r" % lines)
    check(all("stu-b" not in l and "nobody" not in l for l in lines),
          "ids are logged as pseudonyms with the audit log on: %r" % lines)
    check(all(len(l.split('student="')[1].split('"')[0]) == 32 for l in lines),
          "32-hex pseudonyms: %r" % lines)
    # Refused now, and why (the lesson is over for stu-b after 3 s).
    time.sleep(3.2)
    s = a.json("GET", "/admin/v1/students/stu-b")
    sub = s["classes"]["subject"]
    check(sub["allowed_now"] is True or sub["rule"] == "lesson_limit",
          "subject after the lesson: %r" % sub)
    # Methods, unknown paths, the root page.
    st_, h, body = a.admin("POST", "/admin/v1/status")
    check(st_ == 405 and h.get("allow") == "GET, HEAD", "POST status: %d %r" % (st_, h))
    st_, h, body = a.admin("GET", "/admin/v1/reload")
    check(st_ == 405 and h.get("allow") == "POST", "GET reload: %d %r" % (st_, h))
    err = a.json("GET", "/admin/v2/nothing", status=404)
    check("no such admin path" in err["error"], "unknown path: %r" % err)
    st_, h, body = a.admin("GET", "/")
    check(st_ == 200 and h["content-type"].startswith("text/html") and b"/metrics" in body,
          "root page: %d %r" % (st_, h))
    err = a.json("GET", "/admin/v1/students/a%00b", status=400)
    check("student id" in err["error"], "NUL in an id: %r" % err)
    # The audit log's health is in the metrics.
    mm = a.metrics()
    check(m(mm, "lessongate_audit_writable") == 1 and m(mm, "lessongate_audit_records") >= 1,
          "audit health in /metrics")


test_admin_json_documents.timeout = 45


def test_admin_reload(env):
    """POST /admin/v1/reload: 200 with the generation; a bad file: 422 naming file:line; the
    admin address changes at the reload; SIGHUP keeps it serving."""
    a = Admin(env)
    r = a.json("POST", "/admin/v1/reload")
    check(r == {"ok": True, "generation": 2}, "reload: %r" % r)
    text = open(a.d.conf).read()
    a.d.rewrite(text + "bogus_key = 1;\n")
    nlines = text.count("\n") + 1
    r = a.json("POST", "/admin/v1/reload", status=422)
    check(r["ok"] is False and any(e.startswith("%s:%d:" % (a.d.conf, nlines)) and
                                   "bogus_key" in e for e in r["errors"]),
          "errors name file:line: %r" % r)
    check(a.json("GET", "/admin/v1/status")["config"]["generation"] == 2, "generation kept")
    # The admin listener on a client listener's address: refused, named.
    a.d.rewrite(text.replace("127.0.0.1:%d\"; }; };" % a.aport,
                             "127.0.0.1:%d\"; }; };" % a.port))
    r = a.json("POST", "/admin/v1/reload", status=422)
    check(any("admin.listen.address" in e and "client listener" in e for e in r["errors"]),
          "conflict named: %r" % r)
    # A new address: answered on the old one, served on the new one from then on.
    new = free_port()
    a.d.rewrite(text.replace("127.0.0.1:%d" % a.aport, "127.0.0.1:%d" % new))
    r = a.json("POST", "/admin/v1/reload")
    check(r == {"ok": True, "generation": 3}, "reload to a new address: %r" % r)
    old = a.aport
    a.aport = new
    wait_listening(new)
    check(a.json("GET", "/admin/v1/status")["config"]["generation"] == 3, "new address serves")
    time.sleep(1.5)
    try:
        socket.create_connection(("127.0.0.1", old), timeout=1).close()
        check(False, "the old admin address still accepts")
    except ConnectionRefusedError:
        pass
    a.d.hup()
    end = time.time() + 5
    while time.time() < end:
        if a.json("GET", "/admin/v1/status")["config"]["generation"] == 4:
            break
        time.sleep(0.1)
    check(a.json("GET", "/admin/v1/status")["config"]["generation"] == 4, "SIGHUP reloaded")
    mm = a.metrics()
    check(m(mm, "lessongate_config_generation") == 4, "generation metric follows")


test_admin_reload.timeout = 40


def test_admin_off_by_default(env):
    """Without an admin section nothing listens for it; the log never says it does."""
    port = free_port()
    d = env.daemon(extra={"state": {"store": "memory"}})
    time.sleep(0.3)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        check(False, "something listens on %d" % port)
    except ConnectionRefusedError:
        pass
    log = open(d.logpath, "rb").read()
    check(b"admin API listening" not in log, "no admin listener without the section")
    d.stop()


def test_admin_mtls(env):
    """admin.listen.tls with client_ca: no certificate → handshake refused; with one → served."""
    d = os.path.join(env.dir, "adm-ca")
    os.makedirs(d, exist_ok=True)
    make_ca(d, "opsca")
    cert = make_client(d, os.path.join(d, "opsca"), "operator")
    chain, key = env.certs.server("admin.test")
    a = Admin(env, tls={"certificate": chain, "key": key,
                        "client_ca": os.path.join(d, "opsca.pem")}, name="admtls")
    bare = ssl.create_default_context(cafile=env.certs.ca)
    try:
        st, _, _ = a.admin("GET", "/metrics", ctx=bare)
        check(False, "served without a client certificate: %d" % st)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
        pass
    withcert = ssl.create_default_context(cafile=env.certs.ca)
    withcert.load_cert_chain(*cert)
    st, h, body = a.admin("GET", "/admin/v1/status", ctx=withcert)
    check(st == 200 and json.loads(body)["listeners"][-1]["client_certificates"] is True,
          "served with a certificate: %d" % st)
    # lessongatectl with --cacert/--cert/--cert-key (the names audit verify --url uses).
    ctl = ctl_binary(env)
    if not os.path.exists(ctl):
        return
    r = subprocess.run([ctl, "-c", a.d.conf, "status", "--json", "--cacert", env.certs.ca,
                        "--cert", cert[0], "--cert-key", cert[1]], capture_output=True, text=True,
                       timeout=15)
    check(r.returncode == 0 and json.loads(r.stdout)["workers"] == 2,
          "lessongatectl status over mTLS: %d %s %s" % (r.returncode, r.stdout[:200], r.stderr))
    r = subprocess.run([ctl, "-c", a.d.conf, "status", "--cacert", env.certs.ca],
                       capture_output=True, text=True, timeout=15)
    check(r.returncode == 4 and "client certificate" in r.stderr,
          "lessongatectl without a client certificate fails clearly: %d %s"
          % (r.returncode, r.stderr))


test_admin_mtls.timeout = 40


def ctl(a, *args):
    r = subprocess.run([ctl_binary(a.env), "-c", a.d.conf] + list(args), capture_output=True,
                       text=True, timeout=20)
    return r.returncode, r.stdout, r.stderr


def test_lessongatectl_admin(env):
    """lessongatectl status, student ID, reload against the running daemon: readable text and
    --json; exit 1 for an unknown student or a failed reload (errors with file:line), 3 without
    an admin listener, 4 when the daemon is not running."""
    a = Admin(env)
    rc, out, err = ctl(a, "status")
    check(rc == 0 and "generation 1" in out and "admin 127.0.0.1:%d" % a.aport in out and
          "store        memory, up" in out and "national: workday" in out,
          "status: %d %r %r" % (rc, out, err))
    rc, out, err = ctl(a, "status", "--json")
    check(rc == 0 and json.loads(out)["config"]["generation"] == 1, "status --json: %r" % out)
    check(a.get("/lesson/small", "stu:c?").status == 200, "a lesson request")
    rc, out, err = ctl(a, "student", "stu:c?")
    check(rc == 0 and "student      stu:c? (region 533100)" in out and
          "subject      allowed now" in out, "student: %d %r %r" % (rc, out, err))
    rc, out, err = ctl(a, "student", "stu:c?", "--json")
    check(rc == 0 and json.loads(out)["student"] == "stu:c?", "student --json: %r" % out)
    check(until_refused(a, "stu:c?") == 429, "the lesson is over")
    rc, out, err = ctl(a, "student", "stu:c?")
    check(rc == 0 and "subject      REFUSED now: lesson_limit, retry after" in out,
          "refused now: %r" % out)
    time.sleep(0.2)
    log = open(a.d.logpath, "rb").read().decode("utf-8", "replace")
    check('msg="admin student lookup" student="stu:c?" peer=127.0.0.1 found=true' in log,
          "without the audit log the lookup names the id itself")
    rc, out, err = ctl(a, "student", "nobody")
    check(rc == 1 and "404" in err and "no such student" in err, "unknown student: %d %r"
          % (rc, err))
    rc, out, err = ctl(a, "reload")
    check(rc == 0 and out.strip() == "reloaded: configuration generation 2", "reload: %r" % out)
    rc, out, err = ctl(a, "reload", "--json")
    check(rc == 0 and json.loads(out) == {"ok": True, "generation": 3}, "reload --json: %r" % out)
    # A reload the daemon refuses (a listener address that cannot be bound).
    text = open(a.d.conf).read()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    busy = blocker.getsockname()[1]
    a.d.rewrite(text.replace('listen = ( { address = "127.0.0.1:%d"; } );' % a.port,
                             'listen = ( { address = "127.0.0.1:%d"; }, '
                             '{ address = "127.0.0.1:%d"; } );' % (a.port, busy)))
    rc, out, err = ctl(a, "reload")
    blocker.close()
    check(rc == 1 and "reload failed" in err and "127.0.0.1:%d" % busy in err,
          "refused reload: %d %r %r" % (rc, out, err))
    # A file that does not parse: named with file:line, the daemon not asked.
    a.d.rewrite(text + "oops = 1;\n")
    rc, out, err = ctl(a, "reload")
    check(rc == 1 and "%s:%d:" % (a.d.conf, text.count("\n") + 1) in err and
          "not asked to reload" in err, "bad file: %d %r" % (rc, err))
    a.d.rewrite(text)
    rc, out, err = ctl(a, "status", "--json")
    check(json.loads(out)["config"]["generation"] == 3, "generation kept after failures")
    a.d.stop()
    rc, out, err = ctl(a, "status")
    check(rc == 4 and "cannot reach the admin listener" in err, "daemon stopped: %d %r"
          % (rc, err))
    a.d.rewrite(text.replace('admin = { listen = { address = "127.0.0.1:%d"; }; };' % a.aport, ""))
    rc, out, err = ctl(a, "status")
    check(rc == 3 and "no admin listener is configured" in err, "no admin: %d %r" % (rc, err))
    rc, out, err = ctl(a, "student")
    check(rc == 2, "student without an id: usage, 2")


test_lessongatectl_admin.timeout = 40


def test_admin_store_health_redis(env):
    """With the Redis store: decision latency observed, store_up follows the server, a lesson
    request the store cannot answer counts as store_unavailable (503, outcome error)."""
    from test_redis import Redis, state
    with Redis(env, name="redis-adm") as r:
        a = Admin(env, state=state(r, timeout="300ms"), name="admredis")
        end = time.time() + 10
        while a.get("/lesson/small", "stu-r").status == 503 and time.time() < end:
            time.sleep(0.1)
        check(a.get("/lesson/small", "stu-r").status == 200, "lesson allowed through redis")
        mm = a.metrics()
        check(m(mm, "lessongate_store_up", kind="redis") == 1, "redis up")
        check((m(mm, "lessongate_store_decision_seconds_count") or 0) >= 2,
              "decisions timed: %r" % m(mm, "lessongate_store_decision_seconds_count"))
        check(m(mm, "lessongate_store_decision_seconds_bucket", le="+Inf") ==
              m(mm, "lessongate_store_decision_seconds_count"), "+Inf is the count")
        check(m(mm, "lessongate_students") is None, "no student count for redis")
        st = a.json("GET", "/admin/v1/status")
        check(st["store"] == {"kind": "redis", "up": True, "state": "ok", "since": None,
                              "last_error": None, "local_decisions": 0, "unreconciled": 0},
              "status store: %r" % st["store"])
        check(m(mm, "lessongate_store_state", state="ok") == 1 and
              m(mm, "lessongate_store_state", state="down") == 0, "store state ok")
        r.kill()
        end = time.time() + 5
        while a.get("/lesson/small", "stu-r").status != 503 and time.time() < end:
            time.sleep(0.1)
        check(a.get("/lesson/small", "stu-r").status == 503, "503 while redis is down")
        mm = a.metrics()
        check(m(mm, "lessongate_store_up", kind="redis") == 0, "store_up 0 while down")
        check(m(mm, "lessongate_store_state", state="down") == 1 and
              m(mm, "lessongate_store_state", state="ok") == 0, "store state down")
        st = a.json("GET", "/admin/v1/status")["store"]
        check(st["state"] == "down" and st["last_error"] and st["since"].startswith("2026-09-21T"),
              "status store while down: %r" % st)
        check(m(mm, "lessongate_store_unavailable_total") >= 1, "unavailable counted")
        check(m(mm, "lessongate_requests_total", **{"class": "subject", "outcome": "error"})
              >= 1, "a 503 is outcome error")


test_admin_store_health_redis.timeout = 40


def test_admin_store_degraded_redis(env):
    """on_failure = "local": with Redis killed, lesson requests are decided locally and the
    status, the metrics and the operator page's data say the store is degraded, and how many
    decisions and students are waiting to be merged back."""
    from test_redis import Redis, state
    with Redis(env, name="redis-deg") as r:
        st_conf = state(r, timeout="300ms")
        st_conf["redis"]["on_failure"] = "local"
        a = Admin(env, state=st_conf, name="admdeg")
        end = time.time() + 10
        while a.get("/lesson/small", "stu-d").status == 503 and time.time() < end:
            time.sleep(0.1)
        check(a.get("/lesson/small", "stu-d").status == 200, "lesson allowed through redis")
        r.kill()
        end = time.time() + 10
        while True:
            check(a.get("/lesson/small", "stu-d").status == 200, "decided locally: 200")
            st = a.json("GET", "/admin/v1/status")["store"]
            if st["state"] == "degraded" or time.time() > end:
                break
            time.sleep(0.2)
        check(st["state"] == "degraded" and st["local_decisions"] >= 1 and
              st["unreconciled"] >= 1 and st["last_error"], "status store degraded: %r" % st)
        mm = a.metrics()
        check(m(mm, "lessongate_store_state", state="degraded") == 1, "metrics: degraded")
        check(m(mm, "lessongate_store_local_decisions_total") >= 1, "local decisions counted")
        check(m(mm, "lessongate_store_unreconciled_students") >= 1, "unreconciled students")


test_admin_store_degraded_redis.timeout = 40


def start_refused(env, extra, listen_extra, what):
    """A daemon that must refuse to start; its log."""
    d = env.daemon(plain=False, listen_extra=listen_extra, extra=extra, wait=False, name="admx")
    d.expect_exit = True
    rc = d.wait(10)
    check(rc is not None and rc != 0, "%s: started anyway (rc %r): %s" % (what, rc, d.tail()))
    return open(d.logpath, "rb").read().decode("utf-8", "replace")


def test_admin_own_address_resolved(env):
    """The admin listener on a client listener's socket address spelt differently ("localhost",
    a port with a leading zero): refused at start naming both, and at a reload."""
    port = free_port()
    listen = [{"address": "127.0.0.1:%d" % port}]
    for spelling in ("localhost:%d" % port, "127.0.0.1:0%d" % port):
        log = start_refused(env, {"admin": {"listen": {"address": spelling}}}, listen, spelling)
        check("admin.listen.address" in log and spelling in log and
              "127.0.0.1:%d" % port in log and "client listener" in log,
              "%s: the clash is named: %s" % (spelling, log[-600:]))
    # A reload to such an address is refused too, and the proxy keeps its port to itself.
    a = Admin(env)
    text = open(a.d.conf).read()
    a.d.rewrite(text.replace("127.0.0.1:%d\"; }; };" % a.aport,
                             "localhost:%d\"; }; };" % a.port))
    r = a.json("POST", "/admin/v1/reload", status=422)
    check(any("admin.listen.address" in e and "same socket address" in e for e in r["errors"]),
          "reload clash named: %r" % r)
    check(a.json("GET", "/admin/v1/status")["config"]["generation"] == 1,
          "the admin listener kept its own address")


test_admin_own_address_resolved.timeout = 60


def test_audit_listen_not_on_client_address(env):
    """audit.listen on a client listener's socket address: refused at start, naming both."""
    port = free_port()
    chain, key = env.certs.server("audit.test")
    k = AuditKeys(env, "clash%d" % env.seq)
    audit = {"dir": os.path.join(env.dir, "audit-clash-%d" % env.seq), "signing_key": k.sign,
             "pseudonym_key": k.pseudo, "name": "it.test/gw",
             "listen": {"address": "localhost:%d" % port,
                        "tls": {"certificate": chain, "key": key, "client_ca": env.certs.ca}}}
    log = start_refused(env, {"audit": audit}, [{"address": "127.0.0.1:%d" % port}], "audit")
    check("audit.listen.address" in log and "client listener" in log and
          "127.0.0.1:%d" % port in log, "the clash is named: %s" % log[-600:])


def test_admin_reload_while_moving(env):
    """The admin address changes at a SIGHUP while a POST reload arrives on the old address:
    the POST is answered (or refused) at once, and the proxy is never stalled meanwhile."""
    a = Admin(env)
    text = open(a.d.conf).read()
    for i in range(4):
        new = free_port()
        a.d.rewrite(text.replace("127.0.0.1:%d" % a.aport, "127.0.0.1:%d" % new))
        text = open(a.d.conf).read()
        c = http.client.HTTPConnection("127.0.0.1", a.aport, timeout=15)
        c.connect()
        a.d.hup()
        t0 = time.time()
        c.request("POST", "/admin/v1/reload")
        try:
            r = c.getresponse()
            st = r.status
            r.read()
        except (OSError, http.client.HTTPException):
            st = None
        took = time.time() - t0
        c.close()
        check(took < 5 and st in (200, 503),
              "round %d: POST during the move: %r after %.1f s" % (i, st, took))
        t0 = time.time()
        res = a.get("/lesson/small", "mover%d" % i)
        check(res.status == 200 and time.time() - t0 < 2,
              "round %d: proxied request: %d after %.1f s" % (i, res.status, time.time() - t0))
        a.aport = new
        wait_listening(new)
        check(a.json("GET", "/admin/v1/status")["config"]["generation"] >= 2 + i,
              "round %d: the new address serves" % i)


test_admin_reload_while_moving.timeout = 90


def test_admin_tls_reload_keeps_listener(env):
    """A TLS admin listener survives reloads that keep its address: a connection opened before
    the reload is still served after it, and new certificate files are used from then on."""
    chain, key = env.certs.server("admin.test")
    a = Admin(env, tls={"certificate": chain, "key": key}, name="admtlsk")
    ctx = ssl.create_default_context(cafile=env.certs.ca)
    ctx.check_hostname = False
    c = http.client.HTTPSConnection("127.0.0.1", a.aport, context=ctx, timeout=10)
    c.request("GET", "/admin/v1/status")
    r = c.getresponse()
    check(r.status == 200, "status over TLS: %d" % r.status)
    r.read()
    for gen in (2, 3, 4):
        a.d.hup()
        end = time.time() + 5
        while time.time() < end:
            st, _, body = a.admin("GET", "/admin/v1/status", ctx=ctx)
            if st == 200 and json.loads(body)["config"]["generation"] == gen:
                break
            time.sleep(0.1)
        check(json.loads(body)["config"]["generation"] == gen, "reload %d seen" % gen)
    # The keep-alive connection from before the reloads is still served (not rebound).
    c.request("GET", "/admin/v1/status")
    r = c.getresponse()
    check(r.status == 200 and json.loads(r.read())["config"]["generation"] == 4,
          "the connection opened before the reloads is still served")
    c.close()
    log = open(a.d.logpath, "rb").read()
    check(log.count(b"admin API listening") == 1, "the listener was started once: %d"
          % log.count(b"admin API listening"))
    # New certificate files at the same address: taken by new connections.
    chain2, key2 = env.certs.server("admin2.test")
    text = open(a.d.conf).read()
    a.d.rewrite(text.replace(chain, chain2).replace(key, key2))
    st, _, body = a.admin("POST", "/admin/v1/reload", ctx=ctx)
    check(st == 200, "reload with new certificates: %d %r" % (st, body))
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", a.aport), timeout=5))
    cn = dict(x[0] for x in s.getpeercert()["subject"]).get("commonName")
    s.close()
    check(cn == "admin2.test", "the new certificate is served: %r" % cn)


test_admin_tls_reload_keeps_listener.timeout = 60


def raw_admin(a, method, path, headers):
    """(status, body) for a request with exactly these header fields (Host included)."""
    s = socket.create_connection(("127.0.0.1", a.aport), timeout=10)
    h = "%s %s HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n" % (method, path)
    for k, v in headers:
        h += "%s: %s\r\n" % (k, v)
    s.sendall((h + "\r\n").encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def test_admin_host_and_origin(env):
    """DNS rebinding (a foreign Host) gets 421; a cross-site POST reload (a foreign Origin) gets
    403 and reloads nothing; the listener's own address, localhost and same-origin pass."""
    a = Admin(env)
    own = "127.0.0.1:%d" % a.aport
    for host in ("evil.example:%d" % a.aport, "evil.example"):
        st, body = raw_admin(a, "GET", "/admin/v1/status", [("Host", host)])
        check(st == 421 and b"Host" in body, "Host %s: %d %r" % (host, st, body))
    st, body = raw_admin(a, "GET", "/admin/v1/status", [])
    check(st == 421, "no Host: %d %r" % (st, body))
    for host in (own, "localhost:%d" % a.aport):
        st, body = raw_admin(a, "GET", "/admin/v1/status", [("Host", host)])
        check(st == 200, "Host %s: %d %r" % (host, st, body))
    for origin in ("http://evil.example", "null", "https://" + own):
        st, body = raw_admin(a, "POST", "/admin/v1/reload", [("Host", own), ("Origin", origin)])
        check(st == 403 and b"Origin" in body, "Origin %s: %d %r" % (origin, st, body))
    check(a.json("GET", "/admin/v1/status")["config"]["generation"] == 1, "nothing reloaded")
    st, body = raw_admin(a, "POST", "/admin/v1/reload", [("Host", own), ("Origin",
                                                                       "http://" + own)])
    check(st == 200 and json.loads(body)["generation"] == 2, "same-origin POST: %d %r"
          % (st, body))


def test_admin_recent_violations_fold(env):
    """One student refused in a loop (60 retries) does not push another student's refusal out of
    the 50 recent violations: the loop is one entry with its count."""
    a = Admin(env, name="admfold")
    check(until_refused(a, "quiet") == 429, "quiet refused")
    check(until_refused(a, "loop") == 429, "loop refused")
    for _ in range(60):
        a.get("/lesson/small", "loop")
    recent = a.json("GET", "/admin/v1/overview")["recent_violations"]
    who = [(v["student"], v["count"]) for v in recent]
    check(("loop", 61) in who and ("quiet", 1) in who and len(recent) == 2,
          "recent violations: %r" % who)


test_admin_recent_violations_fold.timeout = 60


def ctl_at(a, address, *args):
    """lessongatectl ARGS with a's configuration but admin.listen.address = address:
    (exit code, stderr, seconds taken); a failure if it runs 30 s."""
    conf = os.path.join(a.env.dir, "ctl-%d-%d.conf" % (a.env.seq, time.time_ns()))
    with open(conf, "w") as f:
        f.write(open(a.d.conf).read().replace("127.0.0.1:%d" % a.aport, address))
    t0 = time.time()
    try:
        r = subprocess.run([ctl_binary(a.env), "-c", conf] + list(args), capture_output=True,
                           text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError("lessongatectl %s hung (admin address %s)" % (args, address))
    return r.returncode, r.stdout, r.stderr, time.time() - t0


def test_lessongatectl_never_hangs(env):
    """lessongatectl status against an admin address that accepts and never answers: exit 4
    within its 10 s limit (not a hang); one that drips a byte a second: given up at 10 s too
    (a deadline, not a per-read limit); a wildcard admin address is reached on loopback; the
    old option name --key is not an admin option any more (it is the verifier key's)."""
    a = Admin(env, name="admhang")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    rc, _, err, took = ctl_at(a, "127.0.0.1:%d" % silent.getsockname()[1], "status")
    silent.close()
    check(rc == 4 and took < 15 and "within 10 s" in err,
          "silent listener: exit %d after %.1f s: %s" % (rc, took, err))
    drip = socket.socket()
    drip.bind(("127.0.0.1", 0))
    drip.listen(8)

    def dripper():
        c, _ = drip.accept()
        try:
            for ch in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 40:
                c.sendall(bytes([ch]))
                time.sleep(1)
        except OSError:
            pass
        c.close()

    threading.Thread(target=dripper, daemon=True).start()
    rc, _, err, took = ctl_at(a, "127.0.0.1:%d" % drip.getsockname()[1], "status")
    drip.close()
    check(rc == 1 and took < 15 and "within 10 s" in err,
          "dripping listener: exit %d after %.1f s: %s" % (rc, took, err))
    rc, out, err, _ = ctl_at(a, "*:%d" % a.aport, "status", "--json")
    check(rc == 0 and json.loads(out)["workers"] == 2,
          "a wildcard admin address: %d %s" % (rc, err))
    rc, _, err, _ = ctl_at(a, "127.0.0.1:%d" % a.aport, "status", "--cert", "x", "--key", "y")
    check(rc == 2, "--key is not a status option: %d %s" % (rc, err))


test_lessongatectl_never_hangs.timeout = 60


def slow_sync_lib(env):
    """build/tests/bench/libslow_sync.so next to the daemon's build (Skip if absent)."""
    lib = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(env.binary))), "tests",
                       "bench", "libslow_sync.so")
    if not os.path.exists(lib):
        raise Skip("no %s (build tests/bench/slow_sync.c)" % lib)
    return lib


def test_admin_scrape_during_slow_sync(env):
    """The audit writer stuck in fdatasync for 4 s (a hung disk, through an LD_PRELOAD): the
    admin API's /metrics and /status still answer at once, with the durable record count."""
    flag = os.path.join(env.dir, "slow-sync-%d" % env.seq)
    a = Admin(env, audit=True, name="admslow", preload=slow_sync_lib(env),
              env_more={"LG_SLOW_SYNC_FILE": flag, "LG_SLOW_SYNC_S": "4"})
    before = a.json("GET", "/admin/v1/status")["audit"]
    open(flag, "w").close()
    t = threading.Thread(target=lambda: a.get("/lesson/small", "slow-1"), daemon=True)
    t.start()
    time.sleep(0.7)  # the writer is in its group commit now
    t0 = time.time()
    st, _, body = a.admin("GET", "/metrics")
    took = time.time() - t0
    t1 = time.time()
    doc = a.json("GET", "/admin/v1/status")
    took2 = time.time() - t1
    os.unlink(flag)
    t.join(10)
    check(st == 200 and b"lessongate_audit_records" in body and took < 1.5,
          "/metrics during a slow sync: %d after %.1f s" % (st, took))
    check(took2 < 1.5, "/admin/v1/status during a slow sync: %.1f s" % took2)
    check(doc["audit"] is not None and before is not None, "audit health shown: %r" % doc["audit"])


test_admin_scrape_during_slow_sync.timeout = 40
