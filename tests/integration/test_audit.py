"""The regulators' audit log written by the daemon (issue 9): records for scripted traffic,
`lessongatectl audit verify` on the directory, every lesson ends in the log, a crash, a log
that cannot be written (lesson routes 503, free routes 200, recovery), unusual student ids.

The daemon runs under libfaketime on a school day at 19:00 (Asia/Shanghai) with a tiny
lesson (3 s) and break (2 s); students are named by the trusted identity header.
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time

from harness import HttpConn, Skip, TestFailure, check

CAL_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "conf",
                        "calendar")
ROUTES = [{"prefix": "/lesson/", "class": "subject"}]
ORIGIN = "it.test/gw"


def ctl_binary(env):
    return os.environ.get("LESSONGATECTL") or os.path.join(os.path.dirname(env.binary),
                                                           "lessongatectl")


def faketime_lib():
    import glob
    for pat in ("/usr/lib/*/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1"):
        found = sorted(glob.glob(pat))
        if found:
            return found[0]
    raise Skip("libfaketime is not installed")


class Keys:
    """A signing key, its verifier key line and a pseudonym key, made by lessongatectl keygen."""

    def __init__(self, env, tag):
        self.dir = os.path.join(env.dir, "keys-" + tag)
        os.makedirs(self.dir)
        self.sign = os.path.join(self.dir, "sign.pem")
        self.pseudo = os.path.join(self.dir, "pseudo.key")
        out = subprocess.run([ctl_binary(env), "keygen", "--name", ORIGIN, "--signing-key",
                              self.sign, "--pseudonym-key", self.pseudo],
                             capture_output=True, text=True, timeout=10)
        check(out.returncode == 0, "keygen failed: %s" % out.stderr)
        self.vkey = os.path.join(self.dir, "vkey")
        with open(self.vkey, "w") as f:
            f.write(out.stdout.strip() + "\n")


class Audited:
    """A lessongated with the audit log on, under a fake clock."""

    def __init__(self, env, tag="a", workers=1, mode=None, audit_dir=None, keys=None,
                 env_extra=None, start="2026-09-21 19:00:00"):
        self.env = env
        self.keys = keys or Keys(env, tag + str(env.seq))
        self.dir = audit_dir or os.path.join(env.dir, "audit-%s-%d" % (tag, env.seq))
        extra = {
            "identity": {"header": {"name": "X-Student-Id", "trusted_peers": ["127.0.0.1/32"]}},
            "routes": ROUTES,
            "rules": {"warn_before": "1s", "subject": {"lesson_max": "3s", "break_min": "2s"}},
            "calendar": {"files": [os.path.join(CAL_ROOT, "cn-2026.conf")],
                         "default_region": "533100"},
            "audit": {"dir": self.dir, "signing_key": self.keys.sign,
                      "pseudonym_key": self.keys.pseudo, "name": ORIGIN},
        }
        if mode:
            extra["mode"] = mode
        envx = {"LD_PRELOAD": faketime_lib(), "FAKETIME": "@" + start, "TZ": "Asia/Shanghai"}
        envx.update(env_extra or {})
        self.d = env.daemon(workers=workers, extra=extra, env_extra=envx, name="aud")
        self.port = self.d.port

    def get(self, target, student=None, raw_student=None):
        """One request on a fresh connection; the Response."""
        with HttpConn(self.port, timeout=10) as c:
            h = "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" % target
            data = h.encode()
            if student is not None:
                data += b"X-Student-Id: " + (student.encode() if isinstance(student, str)
                                             else student) + b"\r\n"
            c.send(data + b"\r\n")
            return c.read_response()

    def until_refused(self, target, student, limit=8.0):
        """Requests every 0.3 s (one lesson without a break) until one is refused."""
        end = time.time() + limit
        while True:
            r = self.get(target, student)
            if r.status != 200 or time.time() > end:
                return r
            time.sleep(0.3)

    def records(self):
        """Every record on disk, parsed (each line must be one JSON object)."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if not name.endswith(".log"):
                continue
            with open(os.path.join(self.dir, name), "rb") as f:
                for line in f.read().split(b"\n"):
                    if line:
                        try:
                            out.append(json.loads(line.decode("utf-8")))
                        except ValueError as e:
                            raise TestFailure("record is not JSON (%s): %r" % (e, line[:300]))
        return out

    def wait_records(self, pred, timeout=5.0):
        end = time.time() + timeout
        while True:
            recs = self.records()
            if pred(recs) or time.time() > end:
                return recs
            time.sleep(0.05)

    def verify(self):
        """lessongatectl audit verify against the daemon's own checkpoint: (rc, output)."""
        out = subprocess.run([ctl_binary(self.env), "audit", "verify", self.dir, "--checkpoint",
                              os.path.join(self.dir, "checkpoint"), "--key", self.keys.vkey],
                             capture_output=True, text=True, timeout=60)
        return out.returncode, out.stdout + out.stderr

    def stop(self):
        return self.d.stop()


def types(recs):
    return [r["type"] for r in recs]


def test_audit_records_for_traffic_and_verify(env):
    """Start, config_loaded, lesson_start, deny (429), lesson_end + lesson_start after the
    break, unidentified, stop: canonical records, pseudonyms, routes not paths; verify passes."""
    a = Audited(env)
    r = a.get("/lesson/room/small?token=secret", "stu-1")
    check(r.status == 200, "first lesson request: %d" % r.status)
    r = a.get("/small")
    check(r.status == 200, "free route: %d" % r.status)
    r = a.get("/lesson/room/small")
    check(r.status == 401, "no student: %d" % r.status)
    r = a.until_refused("/lesson/other/small", "stu-1")
    check(r.status == 429, "after lesson_max: %d %r" % (r.status, r.body[:200]))
    time.sleep(2.5)
    r = a.get("/lesson/room/small", "stu-1")
    check(r.status == 200, "after the break: %d %r" % (r.status, r.body[:200]))
    check(a.stop() == 0, "daemon did not stop cleanly")
    recs = a.records()
    t = types(recs)
    check(t[0] == "start" and t[1] == "config_loaded", "first records: %r" % t[:3])
    check(t[-1] == "stop", "last record: %r" % t[-3:])
    check([r["index"] for r in recs] == list(range(len(recs))), "indexes not 0..n-1")
    for want in ("lesson_start", "deny", "lesson_end", "unidentified"):
        check(want in t, "no %s record: %r" % (want, t))
    check(t.count("lesson_start") == 2, "two lessons: %r" % t)
    deny = [r for r in recs if r["type"] == "deny"][0]
    check(deny.get("status") == 429 and deny.get("enforced") is True,
          "deny record: %r" % deny)
    text = open(os.path.join(a.dir, sorted(x for x in os.listdir(a.dir)
                                           if x.endswith(".log"))[0]), "rb").read()
    check(b"stu-1" not in text and b"secret" not in text and b"/lesson/room/small" not in text
          and b"/lesson/other/small" not in text, "a student id or a raw path is in the log")
    check(all(r.get("route") == "/lesson/" for r in recs if r["type"] in
              ("lesson_start", "deny", "unidentified")), "route is the configured prefix")
    ps = subprocess.run([ctl_binary(env), "audit", "pseudonym", "stu-1", "--key", a.keys.pseudo],
                        capture_output=True, text=True, timeout=10).stdout.strip()
    check(re.fullmatch(r"[0-9a-f]{32}", ps), "pseudonym: %r" % ps)
    check(all(r.get("student") == ps for r in recs if r["type"] in ("lesson_start", "deny")),
          "records carry the student's pseudonym")
    cfg = [r for r in recs if r["type"] == "config_loaded"][0]
    check(re.search(r"[0-9a-f]{64}", json.dumps(cfg)), "config_loaded has a sha256: %r" % cfg)
    rc, out = a.verify()
    check(rc == 0, "audit verify failed: %s" % out)
    log = open(a.d.logpath, "rb").read()
    check(b"lesson event" not in log and b"stu-1" not in log,
          "stderr still carries lesson events: %r" % log[-600:])


test_audit_records_for_traffic_and_verify.timeout = 40


def test_audit_unusual_ids_stay_valid_json(env):
    """Ids with quotes, backslashes, 256 bytes, invalid UTF-8: valid JSON, no id in the log."""
    a = Audited(env, tag="ids")
    ids = [b'q"uo\\te', b"x" * 256, b"\xff\xfe\xc3(bad", b"tab\there"]
    for s in ids:
        r = a.get("/lesson/r/small", s)
        check(r.status in (200, 400, 401), "id %r: %d" % (s[:20], r.status))
    check(a.stop() == 0, "daemon did not stop cleanly")
    recs = a.records()  # each line parsed as JSON
    raw = b"".join(open(os.path.join(a.dir, n), "rb").read() for n in os.listdir(a.dir)
                   if n.endswith(".log"))
    for s in ids:
        check(s not in raw, "id %r appears in the log" % s[:20])
    check(sum(1 for r in recs if r["type"] == "lesson_start") >= 2,
          "lessons of unusual ids recorded: %r" % types(recs))
    rc, out = a.verify()
    check(rc == 0, "audit verify failed: %s" % out)


def test_audit_every_lesson_start_has_one_end(env):
    """A randomized run of several students ending with a graceful stop: every lesson_start
    has exactly one lesson_end (ended by a newer lesson, or at the stop)."""
    a = Audited(env, tag="rand", workers=2)
    rnd = random.Random(9)
    students = ["s%d" % i for i in range(6)]
    end = time.time() + 9
    while time.time() < end:
        a.get("/lesson/x/small", rnd.choice(students))
        time.sleep(rnd.uniform(0, 0.15))
    check(a.stop() == 0, "daemon did not stop cleanly")
    recs = a.records()
    starts, ends = {}, {}
    for r in recs:
        if r["type"] == "lesson_start":
            k = (r["student"], r["time"])
            starts[k] = starts.get(k, 0) + 1
        elif r["type"] == "lesson_end":
            k = (r["student"], r["start"])
            ends[k] = ends.get(k, 0) + 1
    check(starts, "no lessons: %r" % types(recs)[:20])
    missing = [k for k in starts if ends.get(k, 0) != 1]
    extra = [k for k in ends if k not in starts]
    check(not missing and not extra,
          "lesson_start without exactly one lesson_end: %r; lesson_end without start: %r"
          % (missing[:5], extra[:5]))


test_audit_every_lesson_start_has_one_end.timeout = 40


def test_audit_kill9_then_restart_verifies(env):
    """kill -9 while refusals are written; on restart the log verifies and every refusal a
    client received is in it."""
    keys = Keys(env, "k9")
    adir = os.path.join(env.dir, "audit-k9")
    a = Audited(env, tag="k9", keys=keys, audit_dir=adir, workers=2)
    # A lesson over its 3 s: each later request is a 429 whose record is durable first.
    r = a.until_refused("/lesson/x/small", "stu-k9")
    check(r.status == 429, "no 429 after lesson_max: %d" % r.status)
    got = [0]
    stop = threading.Event()

    def load(i):
        while not stop.is_set():
            try:
                r = a.get("/lesson/x/small", "stu-k9")
            except Exception:
                return
            if r.status == 429:
                got[0] += 1

    ts = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    time.sleep(1.5)
    os.kill(a.d.pid, signal.SIGKILL)
    stop.set()
    for t in ts:
        t.join(10)
    a.d.expect_exit = True
    a.d.stop()
    check(got[0] > 0, "no refusal received under load")
    # Repeats of one student+rule are counted, not written one by one: a record stands for
    # `count` refusals. Every refusal received must be accounted for.
    b = Audited(env, tag="k9b", keys=keys, audit_dir=adir)
    check(b.stop() == 0, "restarted daemon did not stop cleanly")
    recs = b.records()
    denied = 0
    for r in recs:
        if r["type"] == "deny":
            denied += r.get("count", 1)
    rc, out = b.verify()
    check(rc == 0, "audit verify after kill -9 failed: %s" % out)
    check(types(recs).count("start") == 2, "two start records: %r" % types(recs).count("start"))
    check(denied >= got[0], "refusals received %d, denials in the log %d" % (got[0], denied))


test_audit_kill9_then_restart_verifies.timeout = 60


def test_audit_log_unwritable_fails_lesson_routes_closed(env):
    """The audit directory's segment cannot be written (made read-only... by swapping the
    directory for a read-only one is not possible while open, so the test uses the daemon's
    injected write error LESSONGATE_TEST_AUDIT_FAIL_FILE): lesson routes 503 with the reason,
    free routes 200, and recovery once writes work again."""
    flag = os.path.join(env.dir, "audit-fail-flag")
    a = Audited(env, tag="full", env_extra={"LESSONGATE_TEST_AUDIT_FAIL_FILE": flag})
    r = a.get("/lesson/x/small", "stu-f")
    check(r.status == 200, "before: %d" % r.status)
    open(flag, "w").close()
    a.get("/lesson/x/small", "stu-g")  # its record fails: the log is now known to be broken
    time.sleep(0.3)
    r = a.get("/lesson/x/small", "stu-h")
    check(r.status == 503 and b"audit log unavailable" in r.body,
          "lesson route while the log cannot be written: %d %r" % (r.status, r.body[:200]))
    r = a.get("/small")
    check(r.status == 200, "free route while the log cannot be written: %d" % r.status)
    os.unlink(flag)
    end = time.time() + 5
    while time.time() < end:
        r = a.get("/lesson/x/small", "stu-h")
        if r.status == 200:
            break
        time.sleep(0.2)
    check(r.status == 200, "no recovery: %d %r" % (r.status, r.body[:200]))
    log = open(a.d.logpath, "rb").read()
    check(log.count(b"audit log cannot be written") >= 1 and
          log.count(b"audit log writable again") == 1, "log lines: %r" % log[-800:])
    check(a.stop() == 0, "daemon did not stop cleanly")
    rc, out = a.verify()
    check(rc == 0, "audit verify after the outage failed: %s" % out)


test_audit_log_unwritable_fails_lesson_routes_closed.timeout = 40
