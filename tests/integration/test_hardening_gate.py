"""Issue 7, items 1-5: the gate cannot be walked around by spelling, method, identity or header.

- Routes are matched on a canonical form too (case, ";params", trailing dots and spaces, "/live"
  for the prefix "/live/"): every spelling an origin may serve as the lesson is gated as one,
  and the origin still receives the normalised path.
- Route methods ignore case and HEAD counts as GET.
- Credentials in several sources must name one student (else 401 "ambiguous_identity"), and
  must not sit in a field the Connection header lists; the charged student reaches the origin
  in Lessongate-Student, which no client can set.
- Look-alikes of the identity header (X_Student_Id) and rewrite/method-override headers
  (X-Original-URL, ...) never reach the origin.

The origin records every request with its headers, so each test shows what reached it.
"""

from harness import HttpConn, check
from test_enforce import Gate, allowed, bearer, refused, unauthorized

LESSON_SPELLINGS = {  # request target -> what the origin must receive (normalised, not canonical)
    "/LIVE/room": "/LIVE/room",
    "/%4cIVE/room": "/LIVE/room",
    "/live;x/room": "/live;x/room",
    "/live./room": "/live./room",
    "/live": "/live",
    "/live%20/room": "/live%20/room",
    "/Live.%20;jsessionid=1/room?q=1": "/Live.%20;jsessionid=1/room?q=1",
    "/;x/live/room": "/;x/live/room",
    "/WS": "/WS",
    "/ws/": "/ws/",
}


def headers_of(rec):
    """[(lower-case name, value)] of a request the origin recorded."""
    return [(k.lower(), v) for k, v in rec["headers"]]


def only_request(o, mark, what):
    got = o.requests_since(mark)
    check(len(got) == 1, "%s: the origin received %d requests: %s" %
          (what, len(got), [r["target"] for r in got]))
    return got[0]


def named(rec, name):
    return [v for k, v in headers_of(rec) if k == name.lower()]


# ---------------------------------------------------------------- item 1: canonical routes


def test_gate_lesson_spellings_are_lessons(env):
    """/LIVE/room, /%4cIVE/room, /live;x/room, /live./room, /live, /live%20/room ... are lesson
    routes: 401 without a token (origin untouched), allowed with one, forwarded as normalised."""
    o = env.origin()
    with Gate(env, "2026-09-21 10:00:00") as g:
        tok = g.token("stu-spell")
        for target, want in LESSON_SPELLINGS.items():
            mark = o.mark()
            unauthorized(g.request(target, None), "%s without a token" % target)
            o.assert_nothing_since(mark, settle=0.05, what=target)
            mark = o.mark()
            allowed(g.request(target, tok), target)
            rec = only_request(o, mark, target)
            check(rec["target"] == want, "%s: the origin received %s, want %s" %
                  (target, rec["target"], want))
            check(named(rec, "Lessongate-Student") == ["stu-spell"],
                  "%s: forwarded student %s" % (target, named(rec, "Lessongate-Student")))
        for target in ("/live/.../x", "/live/..%20/x", "/LIVE/.%20/x"):
            mark = o.mark()
            r = g.request(target, tok)
            check(r.status == 400, "%s: a segment of dots and spaces must be 400, got %r" %
                  (target, r))
            o.assert_nothing_since(mark, settle=0.05, what=target)
        mark = o.mark()
        r = g.request("/livestream/x", None)
        check(r.status == 404, "a free route that only starts like a lesson: %r" % r)
        check(only_request(o, mark, "/livestream/x")["target"] == "/livestream/x", "free")


def test_gate_lesson_spellings_451_after_2100(env):
    """At 21:00 the disguised lesson routes are refused with 451 day_end, like /live/room."""
    o = env.origin()
    with Gate(env, "2026-09-21 21:00:05") as g:
        tok = g.token("stu-late")
        mark = o.mark()
        for target in ("/live/room", "/LIVE/room", "/%4cIVE/room", "/live;x/room",
                       "/live./room", "/live", "/live%20/room"):
            refused(g.request(target, tok), 451, "day_end", target)
        o.assert_nothing_since(mark, what="lessons after 21:00")


# ---------------------------------------------------------------- item 2: methods


def test_gate_route_methods_ignore_case_head_is_get(env):
    """A route for methods = ["get"] gates GET and HEAD; POST on it is free."""
    o = env.origin()
    routes = [{"prefix": "/quiz/", "class": "subject", "methods": ["get"]},
              {"prefix": "/live/", "class": "subject"}]
    with Gate(env, "2026-09-21 10:00:00", routes=routes) as g:
        mark = o.mark()
        unauthorized(g.request("/quiz/1", None), "GET /quiz/1 without a token")
        with HttpConn(g.port, timeout=10) as c:
            r = c.request("HEAD", "/quiz/1", headers=[("Connection", "close")], head_only=True)
        check(r.status == 401, "HEAD /quiz/1 without a token: expected 401, got %r" % r)
        o.assert_nothing_since(mark, what="GET/HEAD on a GET lesson route")
        mark = o.mark()
        r = g.request("/quiz/1", None, method="POST")
        check(r.status == 404, "POST is not the lesson route: %r" % r)
        check(only_request(o, mark, "POST")["method"] == "POST", "POST reached the origin")
        mark = o.mark()
        allowed(g.request("/quiz/1", g.token("stu-head"), method="HEAD"), "HEAD with a token")
        check(only_request(o, mark, "HEAD")["method"] == "HEAD", "HEAD forwarded as HEAD")


# ---------------------------------------------------------------- item 3: identity


def test_gate_forwarded_student_header_and_spoofs(env):
    """The origin gets Lessongate-Student: the charged student, once; client copies (and
    look-alikes) are removed on lesson and free routes alike."""
    o = env.origin()
    spoofs = [("Lessongate-Student", "stu-victim"), ("lessongate-student", "stu-victim2"),
              ("Lessongate_Student", "stu-victim3")]
    with Gate(env, "2026-09-21 10:00:00") as g:
        tok = g.token("stu-charged")
        mark = o.mark()
        allowed(g.request("/live/fwd", tok, spoofs), "a lesson with spoofed student headers")
        rec = only_request(o, mark, "/live/fwd")
        fwd = [(k, v) for k, v in headers_of(rec) if k.replace("_", "-") == "lessongate-student"]
        check(fwd == [("lessongate-student", "stu-charged")],
              "the origin must see exactly the charged student: %s" % fwd)
        mark = o.mark()
        r = g.request("/echo", None, spoofs + [("X-Other", "kept")])
        check(r.status == 200, "free route: %r" % r)
        rec = only_request(o, mark, "/echo")
        names = [k for k, _ in headers_of(rec)]
        check(not any(k.replace("_", "-") == "lessongate-student" for k in names),
              "a free route forwarded a client's Lessongate-Student: %s" % names)
        check("x-other" in names, "other headers are forwarded: %s" % names)
    with Gate(env, "2026-09-21 10:00:00", jwt=None, header=["127.0.0.1/32"],
              identity_extra={"forward_header": "X-Platform-Student"}) as g:
        mark = o.mark()
        allowed(g.request("/live/hdr", None, [("X-Student-Id", "stu-hdr"),
                                              ("X-Platform-Student", "stu-spoof")]),
                "trusted header identity")
        rec = only_request(o, mark, "/live/hdr")
        check(named(rec, "X-Platform-Student") == ["stu-hdr"],
              "identity.forward_header names the field: %s" % headers_of(rec))
        check(named(rec, "Lessongate-Student") == [], "only the configured field is set")


def test_gate_ambiguous_identity_401(env):
    """Bearer for one student, cookie or query token for another, or a bad token beside a good
    one: 401 ambiguous_identity and nothing reaches the origin; one student twice is fine."""
    o = env.origin()
    with Gate(env, "2026-09-21 10:00:00") as g:
        a, a2, b = g.token("stu-a"), g.token("stu-a", life=7200), g.token("stu-b")
        expired = g.token("stu-a", life=-3600)
        cases = {
            "bearer A, cookie B": ("/live/amb", bearer(a) + [("Cookie", "lg_token=" + b)]),
            "bearer A, query B": ("/live/amb?access_token=" + b, bearer(a)),
            "cookie A, query B": ("/live/amb?access_token=" + b, [("Cookie", "lg_token=" + a)]),
            "bearer A, expired cookie": ("/live/amb", bearer(a) + [("Cookie",
                                                                    "lg_token=" + expired)]),
            "bearer A, garbage query": ("/live/amb?access_token=garbage", bearer(a)),
            "Connection lists Authorization": ("/live/amb", bearer(a) +
                                               [("Connection", "Authorization")]),
            "Connection lists Cookie": ("/live/amb", [("Cookie", "lg_token=" + a),
                                                      ("Connection", "keep-alive, cookie")]),
        }
        mark = o.mark()
        for what, (target, headers) in cases.items():
            r = g.request(target, None, headers)
            check(unauthorized(r, what) == "ambiguous_identity",
                  "%s: reason %r" % (what, r.json()))
            check('error="invalid_request"' in (r.header("WWW-Authenticate") or ""),
                  "%s: WWW-Authenticate %r" % (what, r.header("WWW-Authenticate")))
        o.assert_nothing_since(mark, what="ambiguous identities")
        mark = o.mark()
        allowed(g.request("/live/same?access_token=" + a, None,
                          bearer(a2) + [("Cookie", "lg_token=" + a)]),
                "the same student in three sources")
        rec = only_request(o, mark, "/live/same")
        check(named(rec, "Lessongate-Student") == ["stu-a"], "student: %s" % headers_of(rec))


# ---------------------------------------------------------------- items 4 and 5: headers


def test_gate_identity_header_lookalikes_removed(env):
    """From untrusted peers every X-Student-Id look-alike (X_Student_Id, any case) is removed;
    from a trusted peer the exact field is honoured and look-alikes still go."""
    o = env.origin()
    looks = [("X_Student_Id", "s1"), ("x_student_id", "s2"), ("X-STUDENT_ID", "s3"),
             ("X-Student-Id", "s4")]
    with Gate(env, "2026-09-21 10:00:00", header=["10.0.0.0/8"]) as g:
        mark = o.mark()
        r = g.request("/echo", None, looks + [("X-Student-Idx", "kept")])
        check(r.status == 200, "free route: %r" % r)
        names = [k for k, _ in headers_of(only_request(o, mark, "/echo"))]
        check(not any(k.replace("_", "-") == "x-student-id" for k in names),
              "an identity look-alike reached the origin: %s" % names)
        check("x-student-idx" in names, "a different field is kept: %s" % names)
        mark = o.mark()
        allowed(g.request("/live/look", g.token("stu-jwt"), looks), "a token beside look-alikes")
        rec = only_request(o, mark, "/live/look")
        check(not any(k.replace("_", "-") == "x-student-id" for k, _ in headers_of(rec)),
              "look-alikes forwarded on a lesson: %s" % headers_of(rec))
    with Gate(env, "2026-09-21 10:00:00", jwt=None, header=["127.0.0.1/32"]) as g:
        mark = o.mark()
        allowed(g.request("/live/trusted", None, [("X-Student-Id", "stu-t"),
                                                  ("X_Student_Id", "stu-other")]),
                "trusted identity header with a look-alike")
        rec = only_request(o, mark, "/live/trusted")
        check([(k, v) for k, v in headers_of(rec) if k.replace("_", "-") == "x-student-id"] ==
              [("x-student-id", "stu-t")], "trusted peer: %s" % headers_of(rec))
        check(named(rec, "Lessongate-Student") == ["stu-t"], "charged: %s" % headers_of(rec))


REWRITE = ["X-Original-URL", "X-Rewrite-URL", "X-HTTP-Method-Override", "X-HTTP-Method",
           "X-Method-Override"]


def test_gate_rewrite_headers_removed(env):
    """X-Original-URL, X-Rewrite-URL and the method overrides never reach the origin (they
    would name another path or method than the one gated); the list is configurable."""
    o = env.origin()
    with Gate(env, "2026-09-21 10:00:00") as g:
        mark = o.mark()
        r = g.request("/echo", None, [(n, "/live/room") for n in REWRITE] +
                      [("x-original-url", "/live/x"), ("X-Debug", "kept")])
        check(r.status == 200, "free route: %r" % r)
        names = [k for k, _ in headers_of(only_request(o, mark, "/echo"))]
        check(not set(n.lower() for n in REWRITE) & set(names),
              "rewrite headers reached the origin: %s" % names)
        check("x-debug" in names, "other headers are kept: %s" % names)
    with Gate(env, "2026-09-21 10:00:00",
              upstream_extra={"strip_request_headers": ["X-Debug"]}) as g:
        mark = o.mark()
        r = g.request("/echo", None, [("X-Debug", "1"), ("X-Original-URL", "/x")])
        check(r.status == 200, "free route: %r" % r)
        names = [k for k, _ in headers_of(only_request(o, mark, "/echo"))]
        check("x-debug" not in names and "x-original-url" in names,
              "the configured list replaces the default: %s" % names)
