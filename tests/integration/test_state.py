"""The local store (issue 8): lesson clocks survive restarts; bad state files stop the daemon.

Each daemon runs under libfaketime (test_enforce.Gate) at real speed from a chosen Shanghai
time, with its state in a folder of the test's own; the next daemon starts later on the
fake day with the same folder. A lesson's deadline (Lessongate-Deadline) is the start of
the lesson plus 30 minutes: an unchanged deadline after a restart is the clock kept intact,
a deadline moved on is a fresh clock. Files are compared byte for byte where the daemon
must not have touched them.
"""

import asyncio
import os
import re
import signal
import stat
import subprocess
import time

import websockets

from harness import check
from test_enforce import STATUS_PATH, Gate, allowed, local, refused, wait_for, ws_url

STUDENT = [("X-Student-Id", "stu-restart")]


def state_dir(env, name):
    return os.path.join(env.dir, "state-" + name)


def gate(env, start, d, wait=True):
    """A daemon with the local store in d, identity by header from this machine."""
    return Gate(env, start, jwt=None, header=["127.0.0.1/32"], wait=wait,
                state={"store": "local", "dir": d})


def lesson(g, what, student=STUDENT):
    return g.request("/live/lesson", headers=student)


def plain(env, d):
    """A daemon on state d without libfaketime, not waited for (it should not start):
    under a fake clock behind the real one, the log thread's flush at exit times out at once
    (pthread_timedjoin_np waits on the real CLOCK_REALTIME), so the error could be lost."""
    return env.daemon(extra={"state": {"store": "local", "dir": d}}, wait=False, name="st")


def kill9(g, settle=1.5):
    """Let the writer commit (at least once a second), then SIGKILL."""
    time.sleep(settle)
    g.d.expect_exit = True
    g.d.proc.send_signal(signal.SIGKILL)
    g.d.proc.wait(5)
    g.d.stop()


def test_state_lesson_survives_graceful_restarts(env):
    """The deadline stays where the first request put it across SIGTERM restarts; the student
    is refused at 30 minutes by a daemon that never saw the lesson begin, and stays refused
    (same retry_at) after one more restart."""
    d = state_dir(env, "graceful")
    deadline = None
    for start in ("2026-09-21 10:00:00", "2026-09-21 10:09:00", "2026-09-21 10:18:00",
                  "2026-09-21 10:27:00"):
        with gate(env, start, d) as g:
            rem, dl = allowed(lesson(g, start), "a lesson request at %s" % start)
            if deadline is None:
                deadline = dl
                check(rem == 1800, "a new lesson has 1800 s, got %d" % rem)
            check(dl == deadline, "after a restart at %s the deadline moved %s -> %s (a fresh "
                  "clock)" % (start, local(deadline), local(dl)))
    with gate(env, "2026-09-21 10:31:00", d) as g:
        ra, retry_at, body = refused(lesson(g, "10:31"), 429, "lesson_limit",
                                     "30 minutes after the first request, 4 restarts later")
    with gate(env, "2026-09-21 10:32:00", d) as g:
        ra2, retry_at2, _ = refused(lesson(g, "10:32"), 429, "lesson_limit",
                                    "a refused student after a restart")
        check(retry_at2 == retry_at, "the refusal's retry_at moved over a restart: %s -> %s" %
              (local(retry_at), local(retry_at2)))


def test_state_lesson_survives_kill9(env):
    """kill -9 more than a second after the request loses nothing: the deadline is kept."""
    d = state_dir(env, "kill9")
    g = gate(env, "2026-09-21 14:00:00", d)
    rem, deadline = allowed(lesson(g, "14:00"), "the first request")
    kill9(g)
    with gate(env, "2026-09-21 14:09:00", d) as g2:
        rem2, dl2 = allowed(lesson(g2, "14:09"), "after kill -9")
        check(dl2 == deadline, "after kill -9 the deadline moved %s -> %s (a fresh clock)" %
              (local(deadline), local(dl2)))
        check(rem2 < rem - 500, "remaining %d after 9 minutes (was %d)" % (rem2, rem))


def test_state_files_are_private(env):
    """The folder is 0700, every file in it 0600, whatever the umask."""
    d = state_dir(env, "perm")
    old = os.umask(0o022)
    try:
        with gate(env, "2026-09-21 10:00:00", d) as g:
            allowed(lesson(g, "perm"), "a lesson")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(d).st_mode)
    check(mode == 0o700, "state.dir is %o, want 700" % mode)
    names = sorted(os.listdir(d))
    check("data.mdb" in names, "no data.mdb in %s: %s" % (d, names))
    for n in names:
        m = stat.S_IMODE(os.stat(os.path.join(d, n)).st_mode)
        check(m == 0o600, "%s is %o, want 600" % (n, m))


def refuses_to_start(env, d, what, want):
    """A daemon on state d exits non-zero, its log naming state.dir, the file and `want`."""
    files = {n: open(os.path.join(d, n), "rb").read() for n in os.listdir(d)
             if n != "lock" and n != "lock.mdb"}
    p = plain(env, d)
    rc = p.wait(10)
    check(rc is not None and rc != 0, "lessongated started on %s (exit %r): %s" %
          (what, rc, p.tail()))
    log = p.tail(4000)
    p.stop()
    check("key=state.dir" in log and os.path.join(d, "data.mdb") in log,
          "the error about %s does not name state.dir and the file: %s" % (what, log))
    check(want in log, "the error about %s does not say %r: %s" % (what, want, log))
    check("never replaces" in log and "move it away" in log,
          "the error about %s does not say what to do: %s" % (what, log))
    for n, data in files.items():
        with open(os.path.join(d, n), "rb") as f:
            check(f.read() == data, "%s changed after refusing to start on %s" % (n, what))


def mdb_load(d, pairs):
    """Make an LMDB database in d holding pairs (bytes keys and values) with mdb_load."""
    os.makedirs(d, mode=0o700)
    text = b"VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n"
    for k, v in pairs:
        text += b" " + k.hex().encode() + b"\n " + v.hex().encode() + b"\n"
    text += b"DATA=END\n"
    subprocess.run(["mdb_load", d], input=text, check=True, capture_output=True)


def header(version=1, size=16, magic=b"LGSTATE\n"):
    return (magic + version.to_bytes(4, "little") + size.to_bytes(4, "little") + bytes(16) +
            (0).to_bytes(8, "little"))


def test_state_non_lmdb_file_refused_untouched(env):
    """A data.mdb that is not LMDB at all stops the daemon and stays as it was."""
    d = state_dir(env, "garbage")
    os.makedirs(d, mode=0o700)
    with open(os.path.join(d, "data.mdb"), "wb") as f:
        f.write(b"# not a database\n" * 600)
    refuses_to_start(env, d, "a text file", "not an LMDB file")


def test_state_foreign_and_damaged_databases_refused_untouched(env):
    """LMDB databases that are not lessongate's, or of another format version, or with a
    record of the wrong size, stop the daemon with what is wrong; nothing is rewritten."""
    cases = [
        ("foreign", [(b"user:1", b"somebody else's data")], "no lessongate header"),
        ("magic", [(b"lessongate", header(magic=b"NOTOURS\n"))], "wrong magic"),
        ("version", [(b"lessongate", header(version=7))], "state format version 7"),
        ("recsize", [(b"lessongate", header(size=24))], "records of 24 bytes"),
        ("record", [(b"lessongate", header()), (bytes(range(1, 17)), b"short")],
         "is not a student record"),
    ]
    for name, pairs, want in cases:
        d = state_dir(env, name)
        mdb_load(d, pairs)
        refuses_to_start(env, d, name, want)


def test_state_dir_errors_are_clear(env):
    """A state.dir that cannot be created, or one another daemon holds, is named."""
    p = plain(env, "/proc/lessongate-no/state")
    rc = p.wait(10)
    log = p.tail(3000)
    p.stop()
    check(rc not in (None, 0), "started with an impossible state.dir: %s" % log)
    check("key=state.dir" in log and "/proc/lessongate-no/state" in log and
          "cannot create the directory" in log, "unclear: %s" % log)
    d = state_dir(env, "twice")
    with gate(env, "2026-09-21 10:00:00", d):
        p = plain(env, d)
        rc = p.wait(10)
        log = p.tail(3000)
        p.stop()
        check(rc not in (None, 0), "a second daemon shared the state: %s" % log)
        check("locked by another process" in log and d in log, "unclear: %s" % log)


def test_state_tunnels_of_a_killed_daemon_do_not_count(env):
    """A lesson WebSocket open when the daemon is killed does not hold the student's lesson in
    the next daemon (its lease is not renewed by anyone): the status shows no tunnel at once,
    long before the lease would have run out, and the clock is still the same lesson's."""
    d = state_dir(env, "lease")
    g = gate(env, "2026-09-21 10:00:00", d)

    async def hold():
        async with websockets.connect(ws_url(g), extra_headers=STUDENT, open_timeout=5,
                                      close_timeout=1, ping_interval=None) as ws:
            st = g.request(STATUS_PATH, headers=STUDENT).json()
            check(st["lesson"]["tunnels"] == 1, "the open WebSocket is no tunnel: %s" % st)
            kill9(g)
            try:
                await ws.recv()
            except websockets.ConnectionClosed:
                pass

    asyncio.run(hold())
    with gate(env, "2026-09-21 10:00:10", d) as g2:
        st = g2.request(STATUS_PATH, headers=STUDENT).json()
        check(st["lesson"]["tunnels"] == 0, "a tunnel of the killed daemon still counts: %s" %
              st["lesson"])
        rem, dl = allowed(lesson(g2, "10:00:10"), "after the kill")
        check(local(dl).startswith("2026-09-21 10:30:0"),
              "the lesson's clock was lost: deadline %s" % local(dl))


def entries(d):
    """How many records the LMDB database in d holds (mdb_stat reads it beside the daemon)."""
    out = subprocess.run(["mdb_stat", d], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Entries: (\d+)", out).group(1))


def test_state_expired_students_leave_the_disk(env):
    """A student whose break is over is swept from memory and, within the next commit, from
    data.mdb too (the header stays); one still in a lesson stays on disk."""
    d = state_dir(env, "sweep")
    with Gate(env, "2026-09-21 10:00:00", speed=120, jwt=None, header=["127.0.0.1/32"],
              state={"store": "local", "dir": d}) as g:
        allowed(g.request("/live/lesson", headers=[("X-Student-Id", "stu-gone")]), "stu-gone")
        ok = wait_for(lambda: entries(d) == 2, 5)
        check(ok, "the first student never reached the disk: %d entries" % entries(d))
        g.clock.sleep(11 * 60)  # a whole break later
        allowed(g.request("/live/lesson", headers=[("X-Student-Id", "stu-here")]), "stu-here")
        ok = wait_for(lambda: entries(d) == 2, 10)
        check(ok, "the expired student stayed on disk: %d entries (want the header and "
              "stu-here)" % entries(d))
        st = g.request(STATUS_PATH, headers=[("X-Student-Id", "stu-here")]).json()
        check(st["lesson"]["active"] is True, "stu-here lost its lesson: %s" % st)


test_state_expired_students_leave_the_disk.timeout = 60
