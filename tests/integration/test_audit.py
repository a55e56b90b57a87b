"""The regulators' audit log written by the daemon (issue 9): records for scripted traffic,
`lessongatectl audit verify` on the directory, every lesson ends in the log, a crash, a log
that cannot be written (lesson routes 503, free routes 200, recovery), unusual student ids.

The daemon runs under libfaketime on a school day at 19:00 (Asia/Shanghai) with a tiny
lesson (3 s) and break (2 s); students are named by the trusted identity header.
"""

import base64
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time

from harness import HttpConn, Skip, TestFailure, check, free_port

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
                 env_extra=None, start="2026-09-21 19:00:00", listen=None, state=None,
                 rules=None, wait=True):
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
        if rules:
            extra["rules"].update(rules)
        if listen:
            extra["audit"]["listen"] = listen
        if state:
            extra["state"] = state
        # start None: the real clock (certificates are checked against it).
        envx = ({"LD_PRELOAD": faketime_lib(), "FAKETIME": "@" + start, "TZ": "Asia/Shanghai"}
                if start else {"TZ": "Asia/Shanghai"})
        envx.update(env_extra or {})
        self.d = env.daemon(workers=workers, extra=extra, env_extra=envx, name="aud", wait=wait)
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


def lesson_pairs(recs):
    """(starts, ends): lesson_start and lesson_end counts by (student, lesson start)."""
    starts, ends = {}, {}
    for r in recs:
        if r["type"] == "lesson_start":
            k = (r["student"], r["time"])
            starts[k] = starts.get(k, 0) + 1
        elif r["type"] == "lesson_end":
            k = (r["student"], r["start"])
            ends[k] = ends.get(k, 0) + 1
    return starts, ends


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
    starts, ends = lesson_pairs(recs)
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


def test_audit_lesson_open_at_kill9_ends_after_restart(env):
    """state.store = "local": lessons open when lessongated is killed (-9) get exactly one
    lesson_end after the restart -- at once for a lesson whose break is over by then, and one
    only for a student who comes back (the gate's own end of the old lesson meets the
    reopened one). The journal DIR/open-lessons says which store entry each open lesson is."""
    keys = Keys(env, "ok9")
    adir = os.path.join(env.dir, "audit-ok9")
    state = {"store": "local", "dir": os.path.join(env.dir, "state-ok9")}
    a = Audited(env, tag="ok9", keys=keys, audit_dir=adir, state=state)
    for s in ("stu-away", "stu-back", "stu-away2"):
        check(a.get("/lesson/x/small", s).status == 200, "lesson refused")
    a.wait_records(lambda rs: types(rs).count("lesson_start") >= 3)
    time.sleep(1.5)  # the local store commits every 0.9 s
    os.kill(a.d.pid, signal.SIGKILL)
    a.d.expect_exit = True
    a.d.stop()
    before = a.records()
    check(types(before).count("lesson_start") == 3 and "lesson_end" not in types(before),
          "before the crash: %r" % types(before))
    with open(os.path.join(adir, "open-lessons")) as f:
        check(len(f.read().splitlines()) == 3, "the journal has the three lessons")
    # A minute later (every break is over): two never come back, one does.
    b = Audited(env, tag="ok9b", keys=keys, audit_dir=adir, state=state,
                start="2026-09-21 19:01:00")
    check(b.get("/lesson/x/small", "stu-back").status == 200, "stu-back refused")
    recs = b.wait_records(lambda rs: types(rs).count("lesson_end") >= 3, timeout=6)
    after = recs[len(before):]
    check(types(after).count("lesson_end") == 3,
          "three lesson_ends after the restart: %r" % types(after))
    check(b.stop() == 0, "restarted daemon did not stop cleanly")
    recs = b.records()
    starts, ends = lesson_pairs(recs)
    missing = [k for k in starts if ends.get(k, 0) != 1]
    extra = [k for k in ends if k not in starts]
    check(len(starts) == 4 and not missing and not extra,
          "lesson_start without exactly one lesson_end: %r; lesson_end without start: %r; %r"
          % (missing[:5], extra[:5], types(recs)))
    for r in recs[len(before):]:
        if r["type"] == "lesson_end" and r["start"] < "2026-09-21T19:01":
            check(r["end"] < "2026-09-21T19:00:30" and r["duration"] >= 0,
                  "a reopened lesson ends at its last activity: %r" % r)
    rc, out = b.verify()
    check(rc == 0, "verify after the restart: %s" % out)


test_audit_lesson_open_at_kill9_ends_after_restart.timeout = 60


def one_local_lesson(env, tag, student):
    """state.store = "local": a daemon in which student has begun a lesson, its lesson_start
    durable and the store committed. (keys, audit dir, state, Audited)."""
    keys = Keys(env, tag)
    adir = os.path.join(env.dir, "audit-" + tag)
    state = {"store": "local", "dir": os.path.join(env.dir, "state-" + tag)}
    a = Audited(env, tag=tag, keys=keys, audit_dir=adir, state=state)
    check(a.get("/lesson/x/small", student).status == 200, "lesson refused")
    a.wait_records(lambda rs: "lesson_start" in types(rs))
    time.sleep(1.5)  # the local store commits every 0.9 s
    return keys, adir, state, a


def test_audit_lesson_ended_at_stop_is_not_ended_again_after_restart(env):
    """state.store = "local": a graceful stop ends every open lesson in the log, while the
    store keeps the student's clock; a student who comes back after the restart starts a new
    lesson, and the gate's end of the old one (from the store) is not written a second time."""
    keys, adir, state, a = one_local_lesson(env, "st9", "stu-again")
    check(a.stop() == 0, "daemon did not stop cleanly")
    check(types(a.records()).count("lesson_end") == 1, "the stop ends the lesson")
    b = Audited(env, tag="st9b", keys=keys, audit_dir=adir, state=state,
                start="2026-09-21 19:01:00")
    check(b.get("/lesson/x/small", "stu-again").status == 200, "stu-again refused")
    b.wait_records(lambda rs: types(rs).count("lesson_start") >= 2)
    time.sleep(1.5)  # a sweep
    check(b.stop() == 0, "restarted daemon did not stop cleanly")
    starts, ends = lesson_pairs(b.records())
    check(len(starts) == 2 and all(ends.get(k, 0) == 1 for k in starts) and
          all(k in starts for k in ends),
          "each lesson ends once: starts %r ends %r" % (starts, ends))


test_audit_lesson_ended_at_stop_is_not_ended_again_after_restart.timeout = 60


JOURNAL_LINE = re.compile(r"^[0-9a-f]{32} [0-9a-f]{32} [0-9]+ [0-9]+ [0-9]+ ([0-9a-f]+|-)$")


def test_audit_journal_torn_tail_and_bad_fields(env):
    """state.store = "local", a journal left by kill -9 with a torn last line and a line whose
    class is out of range, and a start-up rewrite that fails (DIR/open-lessons.tmp is a
    directory): the daemon starts, says which line it skipped and that it cut the torn tail,
    reopens only the valid lesson (one lesson_end, a real class), and the next journal line is
    whole (not glued onto the fragment)."""
    keys, adir, state, a = one_local_lesson(env, "tj", "stu-tj1")
    os.kill(a.d.pid, signal.SIGKILL)
    a.d.expect_exit = True
    a.d.stop()
    jpath = os.path.join(adir, "open-lessons")
    with open(jpath) as f:
        good = f.read().splitlines()
    check(len(good) == 1 and JOURNAL_LINE.match(good[0]), "the journal: %r" % good)
    f = good[0].split(" ")
    f[3] = "7"  # class out of range, for the same lesson
    long_route = ("ab" * 16 + " " + "cd" * 16 + " 1789988400 0 533100 " +
                  ("/" + "r" * 700).encode().hex())
    with open(jpath, "a") as fh:
        fh.write(" ".join(f) + "\n" + long_route + "\n" + good[0][:40])  # and a torn line
    os.mkdir(jpath + ".tmp")
    b = Audited(env, tag="tjb", keys=keys, audit_dir=adir, state=state,
                start="2026-09-21 19:01:00")
    check(b.get("/lesson/x/small", "stu-tj2").status == 200, "stu-tj2 refused")
    recs = b.wait_records(lambda rs: types(rs).count("lesson_start") >= 2 and
                          "lesson_end" in types(rs))
    time.sleep(0.5)
    log = open(b.d.logpath, "rb").read()
    check(b"line skipped" in log and b"open-lessons:2" in log and
          b"class out of range" in log, "no line naming the bad class: %r" % log[-1500:])
    check(b"torn last line cut" in log, "no line about the torn tail: %r" % log[-1500:])
    check(b"open-lessons:3" not in log, "a line with a 701-byte route does not read back: %r"
          % log[-1500:])
    with open(jpath) as fh:
        lines = fh.read().split("\n")
    check(lines[-1] == "" and all(JOURNAL_LINE.match(x) for x in lines[:-1]) and
          len(lines) >= 5, "a journal line is not whole: %r" % lines)
    check(b.stop() == 0, "restarted daemon did not stop cleanly")
    recs = b.records()
    starts, ends = lesson_pairs(recs)
    check(all(ends.get(k, 0) == 1 for k in starts) and all(k in starts for k in ends),
          "each lesson ends once: starts %r ends %r" % (starts, ends))
    check(all(r["class"] == "subject" for r in recs if r["type"] == "lesson_end"),
          "a lesson_end with another class: %r" %
          [r for r in recs if r["type"] == "lesson_end"])
    rc, out = b.verify()
    check(rc == 0, "verify after the restart: %s" % out)


test_audit_journal_torn_tail_and_bad_fields.timeout = 60


def test_audit_start_failing_late_is_clear(env):
    """A start that fails late (after the log is open and indexed: the open-lessons journal
    cannot be opened, it is a directory) stops the daemon with the path and the reason, and
    undoes what it had done (run under the ASan build, nothing is freed twice or used after
    being freed); the log is then fine for the next start."""
    adir = os.path.join(env.dir, "audit-late")
    state = {"store": "local", "dir": os.path.join(env.dir, "state-late")}
    keys = Keys(env, "late")
    a = Audited(env, tag="late", keys=keys, audit_dir=adir, state=state, start=None)
    check(a.stop() == 0, "daemon did not stop cleanly")
    jpath = os.path.join(adir, "open-lessons")
    os.unlink(jpath)
    os.mkdir(jpath)
    b = Audited(env, tag="lateb", keys=keys, audit_dir=adir, state=state, start=None,
                wait=False)
    rc = b.d.wait(10)
    log = b.d.tail(3000)
    b.d.expect_exit = True
    b.d.stop()
    check(rc == 1, "started (or crashed) with an unopenable journal: %r %s" % (rc, log))
    check("cannot open the audit log" in log and jpath in log and "Is a directory" in log,
          "unclear: %s" % log)
    os.rmdir(jpath)
    c = Audited(env, tag="latec", keys=keys, audit_dir=adir, state=state, start=None)
    check(c.stop() == 0, "daemon did not stop cleanly")
    rc, out = c.verify()
    check(rc == 0, "verify after the failed start: %s" % out)


test_audit_start_failing_late_is_clear.timeout = 40


def test_audit_journal_compacted_under_steady_load(env):
    """state.store = "local": the journal of lesson starts is compacted while lessons keep
    starting (every batch carries a new line), once it holds more lines than twice the open
    lessons plus the slack ($LESSONGATE_TEST_RESUME_SLACK=0 here, 4096 in production): the
    file is replaced while the load goes on, and then holds fewer lines than were started."""
    adir = os.path.join(env.dir, "audit-cmp")
    state = {"store": "local", "dir": os.path.join(env.dir, "state-cmp")}
    # Short breaks in both classes: the store forgets a student (and the writer its ended
    # lesson) seconds after the lesson, so the open lessons stay few under the load.
    a = Audited(env, tag="cmp", audit_dir=adir, state=state,
                env_extra={"LESSONGATE_TEST_RESUME_SLACK": "0"},
                rules={"non_subject": {"lesson_max": "3s", "break_min": "2s"}})
    jpath = os.path.join(adir, "open-lessons")
    ino = os.stat(jpath).st_ino
    trace = os.path.join(env.dir, "cmp.strace")
    st = None
    if shutil.which("strace"):
        # The writer's system calls: the rename must be followed by a sync of the directory.
        st = subprocess.Popen(["strace", "-f", "-qq", "-p", str(a.d.pid), "-o", trace,
                               "-e", "trace=openat,rename,renameat,renameat2,fsync"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    started, replaced = 0, False
    end = time.time() + 35
    while time.time() < end and not replaced:
        check(a.get("/lesson/x/small", "stu-c%d" % started).status == 200, "lesson refused")
        started += 1
        time.sleep(0.03)
        replaced = os.stat(jpath).st_ino != ino
    check(replaced, "the journal was not compacted during %d lesson starts" % started)
    with open(jpath) as fh:
        n = len(fh.read().splitlines())
    check(n < started, "after compaction %d lines for %d starts" % (n, started))
    if st:
        time.sleep(0.5)
        st.send_signal(signal.SIGINT)
        st.wait(10)
        calls = open(trace).read().splitlines()
        ren = [i for i, x in enumerate(calls) if "open-lessons.tmp" in x and "rename" in x and
               x.rstrip().endswith("= 0")]
        check(ren, "no rename of the journal traced: %r" % calls[-20:])
        dirfd = None
        for x in calls[ren[0]:]:
            m = re.search(r'openat\(AT_FDCWD, "%s", [^)]*O_DIRECTORY[^)]*\) = (\d+)' %
                          re.escape(adir), x)
            if m:
                dirfd = m.group(1)
            elif dirfd and re.search(r"fsync\(%s\)\s+= 0" % dirfd, x):
                break
        else:
            raise TestFailure("the directory is not synced after the rename: %r" %
                              calls[ren[0]:ren[0] + 12])
        check(not any(re.search(r'openat\(AT_FDCWD, "%s"' % re.escape(jpath), x)
                      for x in calls[ren[0]:]),
              "the journal is reopened after the rename (its fd should be kept)")
    check(a.stop() == 0, "daemon did not stop cleanly")


test_audit_journal_compacted_under_steady_load.timeout = 60


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


# ---------------------------------------------------------------- the regulator API


def openssl(cwd, *args, faketime=None):
    e = dict(os.environ)
    if faketime:
        e.update({"LD_PRELOAD": faketime_lib(), "FAKETIME": faketime})
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, timeout=30, env=e)
    if r.returncode != 0:
        raise TestFailure("openssl %s: %s" % (args[0], r.stderr.decode()[-300:]))


def make_ca(d, name):
    openssl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".pem", "-days", "30", "-subj", "/CN=" + name,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return os.path.join(d, name + ".pem")


def make_client(d, ca, name, faketime=None, days=30):
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=clientAuth\n")
    openssl(d, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
    openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".crt", "-days", str(days), "-extfile", ext,
            faketime=faketime)
    return os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")


class Api:
    """An HTTPS client of the regulator API with (or without) a client certificate."""

    def __init__(self, env, port, cert=None):
        self.ctx = ssl.create_default_context(cafile=env.certs.ca)
        if cert:
            self.ctx.load_cert_chain(*cert)
        self.port = port

    def get(self, path, headers=None):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
        try:
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read(), r
        finally:
            c.close()


def H(b):
    return hashlib.sha256(b).digest()


def inclusion_root(index, size, leaf, proof):
    """The root an RFC 9162 inclusion proof leads to (None if the proof is malformed)."""
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = H(b"\x01" + p + r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = H(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def api_daemon(env, audit_dir=None, env_extra=None):
    d = os.path.join(env.dir, "regcerts")
    os.makedirs(d, exist_ok=True)
    make_ca(d, "regca")
    make_ca(d, "otherca")
    chain, key = env.certs.server("audit.test")
    port = free_port()
    listen = {"address": "127.0.0.1:%d" % port,
              "tls": {"certificate": chain, "key": key,
                      "client_ca": os.path.join(d, "regca.pem")}}
    a = Audited(env, tag="api", start=None, listen=listen, audit_dir=audit_dir,
                env_extra=env_extra)
    from harness import wait_port
    check(wait_port(port, 5, a.d.proc), "the audit API does not listen: %s" % a.d.tail())
    return a, port, d


def test_audit_api_entries_proofs_checkpoint_verify(env):
    """The regulator API with a client certificate: the checkpoint verifies the directory
    with lessongatectl, entries are the records as hashed, inclusion and consistency proofs
    lead to the checkpoint's root, violations as NDJSON and CSV, bad parameters 400."""
    a, port, d = api_daemon(env)
    api = Api(env, port, make_client(d, "regca", "bureau"))
    for i in range(3):
        a.get("/lesson/x/small", "stu-api-%d" % i)
    # A refusal at any real time: lesson_limit after 3 s, or the day's window or calendar.
    r = a.until_refused("/lesson/x/small", "stu-api-0")
    check(r.status in (429, 451), "no refusal: %d" % r.status)
    time.sleep(LGD_CHECKPOINT_WAIT)
    st, cp, _ = api.get("/audit/v1/checkpoint")
    check(st == 200 and cp.startswith(ORIGIN.encode() + b"\n"), "checkpoint: %d %r" % (st, cp))
    lines = cp.decode().split("\n")
    size, root = int(lines[1]), base64.b64decode(lines[2])
    check(size >= 7, "checkpoint size %d" % size)
    cpf = os.path.join(env.dir, "pulled.checkpoint")
    with open(cpf, "wb") as f:
        f.write(cp)
    out = subprocess.run([ctl_binary(env), "audit", "verify", a.dir, "--checkpoint", cpf, "--key",
                          a.keys.vkey], capture_output=True, text=True, timeout=60)
    check(out.returncode == 0, "verify against the pulled checkpoint: %s" % (out.stdout + out.stderr))
    st, body, r = api.get("/audit/v1/entries?start=0&end=%d" % size)
    recs = body.split(b"\n")[:-1]
    check(st == 200 and len(recs) == size, "entries: %d, %d lines" % (st, len(recs)))
    for i, rec in enumerate(recs):
        check(json.loads(rec)["index"] == i, "entry %d" % i)
        st, pj, _ = api.get("/audit/v1/proof/inclusion?index=%d&size=%d" % (i, size))
        p = json.loads(pj)
        leaf = H(b"\x00" + rec)
        check(p["leaf_hash"] == leaf.hex(), "leaf hash of entry %d is not SHA-256(0 || record)" % i)
        check(inclusion_root(i, size, leaf, [bytes.fromhex(h) for h in p["hashes"]]) == root,
              "inclusion proof of %d does not lead to the checkpoint's root" % i)
    st, pj, _ = api.get("/audit/v1/proof/consistency?old=1&new=%d" % size)
    check(st == 200 and "hashes" in json.loads(pj), "consistency: %d %r" % (st, pj))
    st, page, r = api.get("/audit/v1/entries?start=2&end=4")
    check(st == 200 and page == b"\n".join(recs[2:4]) + b"\n", "a page: %r" % page)
    st, v, _ = api.get("/audit/v1/violations?from=2000-01-01&to=2100-01-01")
    vs = [json.loads(x) for x in v.split(b"\n") if x]
    check(st == 200 and vs and all(x["type"] in ("deny", "forced_close") for x in vs),
          "violations: %d %r" % (st, v[:300]))
    st, c, r = api.get("/audit/v1/violations?from=2000-01-01&to=2100-01-01",
                       {"Accept": "text/csv"})
    rows = c.split(b"\r\n")
    check(st == 200 and rows[0] == b"index,type,time,student,region,class,route,rule,status,"
          b"enforced,count,how" and rows[-1] == b"" and len(rows) == len(vs) + 2 and
          all(len(x.split(b",")) == 12 for x in rows[1:-1]),
          "violations as CSV: %d %r" % (st, c[:300]))
    check(rows[1].split(b",")[0] == str(vs[0]["index"]).encode() and
          rows[1].split(b",")[3] == vs[0]["student"].encode(), "CSV row: %r" % rows[1])
    for bad in ("/audit/v1/entries", "/audit/v1/entries?start=x", "/audit/v1/entries?start=99999",
                "/audit/v1/proof/inclusion?index=5&size=2", "/audit/v1/proof/consistency?old=3",
                "/audit/v1/violations?from=2000-01-01", "/audit/v1/violations?from=2000-01-01&"
                "to=2100-01-01&rule=nope", "/audit/v1/violations?from=2000-01-01&to=2100-01-01"
                "&region=12"):
        st, b, r = api.get(bad)
        check(st == 400 and r.getheader("Content-Type") == "application/json" and
              "error" in json.loads(b), "%s: %d %r" % (bad, st, b))
    st, b, _ = api.get("/lesson/x/small")
    check(st == 404, "the API listener serves proxy traffic: %d" % st)
    r = a.get("/audit/v1/checkpoint")
    check(b"tlog" not in r.body and ORIGIN.encode() not in r.body,
          "a client listener served the audit API")
    check(a.stop() == 0, "daemon did not stop cleanly")


test_audit_api_entries_proofs_checkpoint_verify.timeout = 60

LGD_CHECKPOINT_WAIT = 5.5


def test_audit_violations_index_matches_a_full_scan(env):
    """/audit/v1/violations reads only what its index names: on a log of many segments (made
    by mkauditlog, then appended to by the daemon), every query answers exactly what a full
    scan of the segment files finds, in order, as NDJSON and CSV."""
    mk = os.path.join(os.path.dirname(ctl_binary(env)), "..", "tests", "bench", "mkauditlog")
    if not os.path.exists(mk):
        raise Skip("mkauditlog is not built")
    adir = os.path.join(env.dir, "audit-vidx")
    out = subprocess.run([mk, adir, "3000", "16000"], capture_output=True, text=True,
                         timeout=60)
    check(out.returncode == 0, "mkauditlog: %s" % out.stderr)
    check(len([f for f in os.listdir(adir) if f.endswith(".log")]) >= 10, "few segments")
    a, port, d = api_daemon(env, audit_dir=adir)
    api = Api(env, port, make_client(d, "regca", "bureau4"))
    r = a.until_refused("/lesson/x/small", "stu-vidx")
    check(r.status in (429, 451), "no refusal: %d" % r.status)
    a.wait_records(lambda rs: rs[-1]["type"] == "deny" or "deny" in types(rs[3000:]))
    recs = a.records()

    def scan(frm, to, rule=None, region=None):
        return [x for x in recs if x["type"] in ("deny", "forced_close") and
                frm <= x["time"] < to and (rule is None or x.get("rule") == rule) and
                (region is None or x.get("region") == region)]

    queries = [("2000-01-01", "2100-01-01", None, None),
               ("2026-09-21T10:01:00", "2026-09-21T10:03:30", None, None),
               ("2026-09-21T10:01:00+08:00", "2026-09-21T10:01:00+08:01", None, None),
               ("2026-09-21", "2026-09-22", "lesson_limit", "533102"),
               ("2026-09-21T10:04:00", "2100-01-01", "day_end", None),
               ("2030-01-01", "2031-01-01", None, None)]
    total = 0
    for frm, to, rule, region in queries:
        q = "/audit/v1/violations?from=%s&to=%s" % (frm.replace("+", "%2B"), to.replace("+", "%2B"))
        if rule:
            q += "&rule=" + rule
        if region:
            q += "&region=" + region
        st, body, r = api.get(q)
        check(st != 200 or r.getheader("Transfer-Encoding") == "chunked",
              "%s: not streamed in chunks: %r" % (q, r.getheaders()))
        got = [json.loads(x) for x in body.split(b"\n") if x]
        want = scan(frm, to, rule, region)
        check(st == 200 and got == want,
              "%s: %d records, a full scan finds %d (first differing: %r)" %
              (q, len(got), len(want),
               next((g for g, w in zip(got, want) if g != w), None)))
        st, body, _ = api.get(q, {"Accept": "text/csv"})
        rows = body.split(b"\r\n")[1:-1]
        check(st == 200 and [int(x.split(b",")[0]) for x in rows] == [w["index"] for w in want],
              "%s as CSV: %r" % (q, rows[:3]))
        total += len(want)
    check(total > 1000, "the queries found little: %d" % total)
    # Clients that go away in the middle of a streamed answer: the API goes on serving.
    import socket
    for _ in range(3):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        tls = api.ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        tls.sendall(b"GET /audit/v1/violations?from=2000-01-01&to=2100-01-01 HTTP/1.1\r\n"
                    b"Host: t\r\n\r\n")
        check(tls.recv(1000).startswith(b"HTTP/1.1 200"), "no streamed answer")
        tls.close()
    st, body, _ = api.get("/audit/v1/violations?from=2000-01-01&to=2100-01-01")
    check(st == 200 and len([x for x in body.split(b"\n") if x]) == len(scan("2000", "2100")),
          "after clients left mid-stream: %d, %d records" % (st, body.count(b"\n")))
    check(a.stop() == 0, "daemon did not stop cleanly")


test_audit_violations_index_matches_a_full_scan.timeout = 90


def poll(fn, pred, timeout=8.0):
    """fn() every 0.2 s until pred(result) or the timeout; the last result."""
    end = time.time() + timeout
    while True:
        got = fn()
        if pred(got) or time.time() > end:
            return got
        time.sleep(0.2)


def test_audit_api_while_the_log_cannot_be_reopened(env):
    """The log fails and cannot be reopened for a while (the injected error, its file saying
    "open": the writer closes the log and its reopen fails): /violations, /entries and the
    proofs answer 503 with a JSON reason meanwhile, and once the log is back /violations
    again names every violation recorded before the outage (its index is not lost)."""
    flag = os.path.join(env.dir, "audit-reopen-flag")
    a, port, d = api_daemon(env, env_extra={"LESSONGATE_TEST_AUDIT_FAIL_FILE": flag})
    api = Api(env, port, make_client(d, "regca", "bureau5"))
    r = a.until_refused("/lesson/x/small", "stu-ro")
    check(r.status in (429, 451), "no refusal: %d" % r.status)
    q = "/audit/v1/violations?from=2000-01-01&to=2100-01-01"
    st, before, _ = poll(lambda: api.get(q), lambda g: g[0] == 200 and g[1])
    check(st == 200 and before, "violations before the outage: %d %r" % (st, before[:200]))
    with open(flag, "w") as f:
        f.write("open")
    a.get("/lesson/x/small", "stu-ro2")  # its record fails: the writer reopens, and fails
    for path in (q, "/audit/v1/entries?start=0", "/audit/v1/proof/inclusion?index=0&size=1",
                 "/audit/v1/proof/consistency?old=1&new=2"):
        st, body, r = poll(lambda: api.get(path), lambda g: g[0] == 503)
        check(st == 503 and r.getheader("Content-Type") == "application/json" and
              "error" in json.loads(body), "%s while the log is closed: %d %r" %
              (path, st, body[:200]))
    log = open(a.d.logpath, "rb").read()
    check(b"injected open error" in log, "the reopen did not fail: %r" % log[-600:])
    time.sleep(1.5)  # writer batches run with the log closed
    os.unlink(flag)
    st, after, _ = poll(lambda: api.get(q), lambda g: g[0] == 200)
    check(st == 200 and after.startswith(before),
          "violations after the log is back lack what was there before: %d\n%r\n%r" %
          (st, before[:300], after[:300]))
    st, body, _ = api.get("/audit/v1/proof/consistency?old=1&new=2")
    check(st == 200, "a proof after the log is back: %d %r" % (st, body[:200]))
    check(a.stop() == 0, "daemon did not stop cleanly")
    rc, out = a.verify()
    check(rc == 0, "audit verify after the outage failed: %s" % out)


test_audit_api_while_the_log_cannot_be_reopened.timeout = 60


def test_audit_api_requires_a_valid_client_certificate(env):
    """No client certificate, one from another CA, an expired one: the handshake fails."""
    a, port, d = api_daemon(env)
    good = make_client(d, "regca", "bureau2")
    other = make_client(d, "otherca", "intruder")
    expired = make_client(d, "regca", "old", faketime="@2020-01-01 00:00:00", days=2)
    st, _, _ = Api(env, port, good).get("/audit/v1/checkpoint")
    check(st in (200, 503), "valid certificate refused: %d" % st)
    for what, cert in (("no certificate", None), ("another CA", other), ("expired", expired)):
        try:
            st, body, _ = Api(env, port, cert).get("/audit/v1/checkpoint")
        except (ssl.SSLError, ConnectionError, OSError):
            continue
        raise TestFailure("%s: answered %d %r" % (what, st, body[:100]))
    check(a.stop() == 0, "daemon did not stop cleanly")


def test_audit_check_and_reload(env):
    """-t reads the audit keys and the API's client CA; a reload writes config_loaded."""
    a = Audited(env, tag="rl")
    a.d.hup()
    recs = a.wait_records(lambda rs: types(rs).count("config_loaded") >= 2)
    check(types(recs).count("config_loaded") == 2, "config_loaded after a reload: %r" % types(recs))
    conf = open(a.d.conf).read()
    check(a.stop() == 0, "daemon did not stop cleanly")
    for i, (old, new, want) in enumerate((
            (a.keys.pseudo, a.keys.sign, "audit.pseudonym_key"),
            (a.keys.sign, a.keys.pseudo, "audit.signing_key"),
            ('name = "%s";' % ORIGIN, 'name = "a b";', "audit.name"))):
        p = os.path.join(env.dir, "bad-audit-%d.conf" % i)
        with open(p, "w") as f:
            f.write(conf.replace(old, new, 1))
        out = subprocess.run([env.binary, "-t", "-c", p], capture_output=True, text=True,
                             timeout=20)
        check(out.returncode == 1 and want in out.stderr, "-t with a bad %s: %d %s"
              % (want, out.returncode, out.stderr[-400:]))
    chain, key = env.certs.server("audit.test")
    p = os.path.join(env.dir, "bad-audit-ca.conf")
    with open(p, "w") as f:
        f.write(conf.replace('name = "%s";' % ORIGIN, 'name = "%s"; listen = { address = '
                             '"127.0.0.1:%d"; tls = { certificate = "%s"; key = "%s"; client_ca = '
                             '"%s"; }; };' % (ORIGIN, free_port(), chain, key, a.keys.pseudo)))
    out = subprocess.run([env.binary, "-t", "-c", p], capture_output=True, text=True, timeout=20)
    check(out.returncode == 1 and "client_ca" in out.stderr,
          "-t with a client_ca that is no certificate: %d %s" % (out.returncode, out.stderr[-400:]))


def test_audit_refusal_answered_only_when_recorded(env):
    """Enforce mode: a refusal whose record cannot be written is not sent (503 instead); while
    the log works, the refusal's record is on disk by the time the client has the answer."""
    flag = os.path.join(env.dir, "audit-fail-flag-2")
    a = Audited(env, tag="wait", env_extra={"LESSONGATE_TEST_AUDIT_FAIL_FILE": flag})
    r = a.until_refused("/lesson/x/small", "stu-w")
    check(r.status == 429, "no 429: %d" % r.status)
    n = sum(1 for x in a.records() if x["type"] == "deny")
    check(n >= 1, "the 429 the client got is not on disk when it got it")
    open(flag, "w").close()
    r = a.get("/lesson/x/small", "stu-w")
    check(r.status == 503 and b"audit log unavailable" in r.body,
          "a refusal whose record failed: %d %r" % (r.status, r.body[:200]))
    os.unlink(flag)
    check(a.stop() == 0, "daemon did not stop cleanly")


def test_audit_401_answered_only_when_recorded(env):
    """Enforce mode: a lesson request without an identity gets its 401 only once its
    unidentified record is durable (each of a flood: the counted record's count covers every
    401 sent); a 401 whose record cannot be written is a 503 instead."""
    flag = os.path.join(env.dir, "audit-fail-flag-401")
    a = Audited(env, tag="w401", env_extra={"LESSONGATE_TEST_AUDIT_FAIL_FILE": flag})
    sent = 0
    for i in range(5):
        r = a.get("/lesson/x/small")
        check(r.status == 401, "no 401: %d" % r.status)
        sent += 1
        got = sum(x.get("count", 1) for x in a.records() if x["type"] == "unidentified")
        check(got >= sent, "401 number %d sent with %d counted on disk" % (sent, got))
    open(flag, "w").close()
    r = a.get("/lesson/x/small")
    check(r.status == 503 and b"audit log unavailable" in r.body,
          "a 401 whose record failed: %d %r" % (r.status, r.body[:200]))
    r = a.get("/small")
    check(r.status == 200, "free route: %d" % r.status)
    os.unlink(flag)
    check(a.stop() == 0, "daemon did not stop cleanly")


class TamperingProxy:
    """An HTTPS server in front of the regulator API that changes record `bad` in every
    /audit/v1/entries page and passes everything else (proofs, checkpoint) through."""

    def __init__(self, env, api, bad):
        import http.server
        chain, key = env.certs.server("audit.test")
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                st, body, _ = api.get(self.path)
                if self.path.startswith("/audit/v1/entries"):
                    start = int(re.search(r"start=(\d+)", self.path).group(1))
                    lines = body.split(b"\n")
                    if start <= bad < start + len(lines) - 1:
                        lines[bad - start] = lines[bad - start].replace(b'"time":"',
                                                                        b'"time":"1', 1)
                    body = b"\n".join(lines)
                self.send_response(st)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(chain, key)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def __enter__(self):
        self.t.start()
        return self.port

    def __exit__(self, *a):
        self.srv.shutdown()
        self.srv.server_close()


def ctl_verify_url(env, port, *args):
    """lessongatectl audit verify --url ... args: (rc, output)."""
    out = subprocess.run([ctl_binary(env), "audit", "verify", "--url",
                          "https://127.0.0.1:%d" % port] + list(args),
                         capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout + out.stderr


def test_audit_verify_and_report_pulled_from_the_api(env):
    """`audit verify --url` pulls the checkpoint and every record with a client certificate
    and verifies them (and --old: consistency with an earlier checkpoint through the proof
    endpoint); a wrong CA, no client certificate, and an earlier checkpoint of another log
    signed with the same key all fail clearly; `audit report --url` sums the pulled log."""
    a, port, d = api_daemon(env)
    cert, key = make_client(d, "regca", "bureau3")
    tls = ["--cert", cert, "--cert-key", key, "--cacert", env.certs.ca]
    for i in range(3):
        a.get("/lesson/x/small", "stu-url-%d" % i)
    r = a.until_refused("/lesson/x/small", "stu-url-0")
    check(r.status in (429, 451), "no refusal: %d" % r.status)
    time.sleep(LGD_CHECKPOINT_WAIT)
    rc, out = ctl_verify_url(env, port, "--key", a.keys.vkey, *tls)
    check(rc == 0 and "OK https://127.0.0.1:%d: " % port in out, "verify --url: %d %s" % (rc, out))
    size = int(re.search(r": (\d+) records match", out).group(1))
    st, cp, _ = Api(env, port, (cert, key)).get("/audit/v1/checkpoint")
    old = os.path.join(env.dir, "url-old.checkpoint")
    with open(old, "wb") as f:
        f.write(cp)
    # More records, a newer checkpoint: consistent with the saved one.
    for i in range(3, 6):
        a.get("/lesson/x/small", "stu-url-%d" % i)
    time.sleep(LGD_CHECKPOINT_WAIT)
    rc, out = ctl_verify_url(env, port, "--key", a.keys.vkey, "--old", old, *tls)
    check(rc == 0 and "OK consistent with the earlier checkpoint" in out and
          int(re.search(r": (\d+) records match", out).group(1)) > size,
          "verify --url --old: %d %s" % (rc, out))
    # Another log, signed by the same key and name: not an ancestor of this one.
    other = os.path.join(env.dir, "other-log")
    os.makedirs(other)
    with open(os.path.join(other, "00000000000000000000.log"), "w") as f:
        for i in range(2):
            f.write('{"index":%d,"type":"start","time":"2026-01-01T00:00:00+08:00",'
                    '"instance":"elsewhere","version":"x"}\n' % i)
    forged = os.path.join(env.dir, "other.checkpoint")
    out = subprocess.run([ctl_binary(env), "audit", "checkpoint", other, "--signing-key",
                          a.keys.sign, "--name", ORIGIN, "--out", forged],
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "checkpoint of the other log: %s" % out.stderr)
    rc, out = ctl_verify_url(env, port, "--key", a.keys.vkey, "--old", forged, *tls)
    check(rc == 1 and "FAILED" in out and "does not extend the earlier one" in out,
          "--old from another log: %d %s" % (rc, out))
    # A server that alters one record on the way: the root fails, and the consistency proofs
    # (which the server cannot fake) name the record.
    bad = 5
    with TamperingProxy(env, Api(env, port, (cert, key)), bad) as tport:
        rc, out = ctl_verify_url(env, tport, "--key", a.keys.vkey, *tls)
    check(rc == 1 and "FAILED: record %d: it is not the record that was signed" % bad in out,
          "a server altering record %d: %d %s" % (bad, rc, out))
    rc, out = ctl_verify_url(env, port, "--key", a.keys.vkey, "--cert", cert, "--cert-key", key,
                             "--cacert", os.path.join(d, "otherca.pem"))
    check(rc != 0 and "not trusted" in out, "a wrong CA: %d %s" % (rc, out))
    rc, out = ctl_verify_url(env, port, "--key", a.keys.vkey, "--cacert", env.certs.ca)
    check(rc != 0 and "client certificate" in out, "no client certificate: %d %s" % (rc, out))
    rc, out = ctl_verify_url(env, port, "--key", a.keys.vkey, "--cert", cert, *tls[4:])
    check(rc == 2 and "--cert-key" in out, "--cert without --cert-key: %d %s" % (rc, out))
    # The same log summed up from the API and from the directory.
    day = lambda d: time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600 + d * 86400))
    rep = [ctl_binary(env), "audit", "report", "--from", day(-1), "--to", day(1), "--format",
           "csv"]
    pulled = subprocess.run(rep + ["--url", "https://127.0.0.1:%d" % port] + tls,
                            capture_output=True, text=True, timeout=60)
    local = subprocess.run(rep + [a.dir], capture_output=True, text=True, timeout=60)
    check(pulled.returncode == 0 and pulled.stdout.startswith("date,lessons,"),
          "report --url: %d %s" % (pulled.returncode, pulled.stderr))
    check(local.returncode == 0, "report DIR: %s" % local.stderr)
    rows = [x.split(",") for x in pulled.stdout.splitlines()[1:]]
    check(len(rows) == 3 and sum(int(x) for row in rows for x in row[4:8]) >= 1,
          "report --url counts the refusal: %r" % pulled.stdout)
    check(pulled.stdout.splitlines()[1:] == local.stdout.splitlines()[1:],
          "report --url and report DIR differ:\n%s\n%s" % (pulled.stdout, local.stdout))
    check(a.stop() == 0, "daemon did not stop cleanly")


test_audit_verify_and_report_pulled_from_the_api.timeout = 60
