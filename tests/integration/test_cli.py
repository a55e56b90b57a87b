"""The command line: -V prints the version, -t checks a config and names file:line of each error."""

import os
import re
import subprocess
import time

from harness import check, free_port, make_config


def run(env, *args, timeout=10):
    r = subprocess.run([env.binary] + list(args), capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def write(env, name, text):
    p = os.path.join(env.dir, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def good_config(env):
    return make_config([{"address": "127.0.0.1:%d" % free_port()}],
                       {"address": "127.0.0.1:%d" % free_port()}, state=None)


def test_version_flag(env):
    rc, out = run(env, "-V")
    check(rc == 0, "-V exited %d: %s" % (rc, out))
    check(re.search(r"\d+\.\d+\.\d+", out), "-V printed no version: %r" % out)


def test_check_good_config_exits_0(env):
    p = write(env, "good.conf", good_config(env))
    rc, out = run(env, "-t", "-c", p)
    check(rc == 0, "-t on a good config exited %d: %s" % (rc, out))


def test_check_unknown_key_names_file_and_line(env):
    text = good_config(env).splitlines()
    text.insert(2, "workerz = 2;")  # line 3
    p = write(env, "unknown-key.conf", "\n".join(text) + "\n")
    rc, out = run(env, "-t", "-c", p)
    check(rc == 1, "-t on a bad config exited %d (want 1): %s" % (rc, out))
    check("%s:3:" % p in out, "-t did not print %s:3: ... (printed %r)" % (p, out[:500]))
    check("workerz" in out, "-t did not name the unknown key: %r" % out[:500])


def test_check_syntax_error_names_file_and_line(env):
    text = good_config(env) + "upstream2 = {\n  address = ;\n"
    line = text.count("\n")  # the broken line is the last one
    p = write(env, "syntax.conf", text)
    rc, out = run(env, "-t", "-c", p)
    check(rc == 1, "-t on a syntax error exited %d (want 1): %s" % (rc, out))
    check(re.search(re.escape(p) + r":(%d|%d):" % (line, line + 1), out),
          "-t did not print %s:%d: ... (printed %r)" % (p, line, out[:500]))


def test_check_bad_value_names_file_and_line(env):
    lines = good_config(env).splitlines()
    lines.append('timeouts = { client_header = "soon"; };')
    p = write(env, "bad-value.conf", "\n".join(lines) + "\n")
    rc, out = run(env, "-t", "-c", p)
    check(rc == 1, "-t exited %d (want 1): %s" % (rc, out))
    check("%s:%d:" % (p, len(lines)) in out, "no %s:%d: in %r" % (p, len(lines), out[:500]))


def test_check_missing_certificate_fails(env):
    lines = good_config(env).splitlines()
    lines.append('listen = ( { address = "127.0.0.1:%d"; tls = { certificate = "/nonexistent/c.pem";'
                 ' key = "/nonexistent/k.pem"; }; } );' % free_port())
    lines = [l for i, l in enumerate(lines) if not (l.startswith("listen") and i < len(lines) - 1)]
    p = write(env, "missing-cert.conf", "\n".join(lines) + "\n")
    rc, out = run(env, "-t", "-c", p)
    check(rc == 1, "-t with a missing certificate exited %d (want 1): %s" % (rc, out))
    check("/nonexistent/c.pem" in out, "-t did not name the certificate file: %r" % out[:500])


def test_bad_config_at_start_exits_nonzero(env):
    p = write(env, "start-bad.conf", "listen = ( { address = \"nowhere\"; } );\n")
    t0 = time.monotonic()
    try:
        rc, out = run(env, "-c", p, timeout=10)
    except subprocess.TimeoutExpired:
        check(False, "lessongated kept running with an invalid config")
    check(rc != 0, "lessongated started with an invalid config (exit 0)")
    check("%s:1:" % p in out, "no %s:1: in %r" % (p, out[:500]))
    check(time.monotonic() - t0 < 5, "took too long to refuse the config")


def faketime_env(day):
    """Run a command with libfaketime's clock at noon (Shanghai) of day (YYYY-MM-DD)."""
    import glob
    from harness import Skip
    for pat in ("/usr/lib/*/faketime/libfaketimeMT.so.1", "/usr/lib/*/faketime/libfaketime.so.1"):
        found = sorted(glob.glob(pat))
        if found:
            e = dict(os.environ)
            e.update({"LD_PRELOAD": found[0], "FAKETIME": "@%s 12:00:00" % day,
                      "TZ": "Asia/Shanghai"})
            return e
    raise Skip("libfaketime is not installed (apt-get install faketime)")


def run_at(env, day, *args):
    r = subprocess.run([env.binary] + list(args), capture_output=True, timeout=10,
                       stdin=subprocess.DEVNULL, env=faketime_env(day))
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def test_check_settings_not_implemented_are_errors(env):
    """Settings that would do nothing (a state dir for the memory store, a redis group for
    the local store) or an unknown on_failure are errors, not ignored; the Redis store itself
    (on_failure "closed" or "local") is accepted."""
    base = good_config(env)
    cases = [
        ('state = { store = "redis"; redis = { address = "127.0.0.1:6379"; on_failure = "open"; '
         '}; };', "state.redis.on_failure", 'expected one of "closed", "local"'),
        ('state = { store = "memory"; dir = "/var/lib/lessongate/state"; };', "state.dir",
         "keeps nothing on disk"),
        ('state = { store = "local"; redis = { address = "127.0.0.1:6379"; }; };', "state.redis",
         "only used with store"),
    ]
    for i, (line, key, why) in enumerate(cases):
        text = base + line + "\n"
        p = write(env, "unimplemented-%d.conf" % i, text)
        rc, out = run(env, "-t", "-c", p)
        check(rc == 1, "-t accepted %r (exit %d): %s" % (line, rc, out))
        n = text.count("\n")
        check(("%s:%d: %s" % (p, n, key)) in out and why in out,
              "-t did not name %s:%d: %s ... %s: %r" % (p, n, key, why, out[:600]))
        rc, out = run(env, "-c", p, timeout=10)
        check(rc != 0, "lessongated started with %r" % line)
    p = write(env, "memory.conf", base + 'state = { store = "memory"; };\n')
    rc, out = run(env, "-t", "-c", p)
    check(rc == 0, "-t refused the memory store: %s" % out)
    p = write(env, "redis.conf", base + 'state = { store = "redis"; redis = { address = '
              '"127.0.0.1:6379"; timeout = "150ms"; }; };\n')
    rc, out = run(env, "-t", "-c", p)
    check(rc == 0, "-t refused the redis store: %s" % out)
    p = write(env, "redis-local.conf", base + 'state = { store = "redis"; redis = { address = '
              '"127.0.0.1:6379"; on_failure = "local"; }; };\n')
    rc, out = run(env, "-t", "-c", p)
    check(rc == 0, "-t refused on_failure = \"local\": %s" % out)
    p = write(env, "redis-tls.conf", base + 'state = { store = "redis"; redis = { address = '
              '"127.0.0.1:6379";\ntls = true; }; };\n')
    rc, out = run(env, "-t", "-c", p)
    check(rc == 1 and "state.redis.tls: TLS to Redis is not supported" in out,
          "-t did not refuse state.redis.tls clearly: %s" % out[:400])


def test_check_warns_of_a_year_without_calendar(env):
    """-t says loudly when a day of the next 60 falls in a year with no national calendar."""
    p = write(env, "calendar-gap.conf", good_config(env))  # cn-2025 and cn-2026 loaded
    rc, out = run_at(env, "2026-12-15", "-t", "-c", p)
    check(rc == 0, "-t exited %d: %s" % (rc, out))
    check("no national calendar is loaded for 2027, which begins in 17 day(s) (2027-01-01)" in out,
          "-t did not warn about 2027 on 2026-12-15: %r" % out)
    check('unknown_year = "weekly"' in out and "(warning)" in out,
          "the warning does not say what unknown_year does: %r" % out)
    rc, out = run_at(env, "2027-03-01", "-t", "-c", p)
    check("today (2027-03-01) falls in 2027" in out, "no warning inside 2027 itself: %r" % out)
    rc, out = run_at(env, "2026-06-01", "-t", "-c", p)
    check(rc == 0 and "no national calendar" not in out and "falls in" not in out,
          "-t warned although 2026-06-01..07-31 are all covered: %r" % out)
    text = good_config(env).replace("calendar = {", 'calendar = { unknown_year = "block"; ')
    p = write(env, "calendar-gap-block.conf", text)
    rc, out = run_at(env, "2026-12-15", "-t", "-c", p)
    check('unknown_year = "block" blocks every day' in out, "block not explained: %r" % out)
