"""Every request RFC 9112 says must be rejected: the status, the closed connection, and an origin
that received nothing.

Each case is sent whole in one write over a raw socket. The proxy must answer
with one of the listed statuses, close the connection, and the origin must not
receive a single byte (checked through its control port). The shared daemon
runs with limits.max_header_size = 8k and limits.max_body_size = 1k.
"""

import time

from harness import ConnClosed, HttpConn, check

H = b"Host: t\r\n"


def req(*lines, body=b""):
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# (name, bytes, accepted statuses). A status set of more than one is where the RFCs leave a choice.
CASES = [
    # Framing: Content-Length and Transfer-Encoding
    ("cl_and_te", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: 5",
                      b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"), {400}),
    ("te_and_cl", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                      b"Content-Length: 5", body=b"0\r\n\r\n"), {400}),
    ("duplicate_cl_equal", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: 5",
                               b"Content-Length: 5", body=b"hello"), {400}),
    ("duplicate_cl_different", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: 5",
                                   b"Content-Length: 6", body=b"hello!"), {400}),
    ("cl_list", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: 5, 5",
                    body=b"hello"), {400}),
    ("cl_non_numeric", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: abc",
                           body=b"hello"), {400}),
    ("cl_plus_sign", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: +5",
                         body=b"hello"), {400}),
    ("cl_negative", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: -5",
                        body=b"hello"), {400}),
    ("cl_hex", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: 0x5",
                   body=b"hello"), {400}),
    ("cl_trailing_garbage", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: 5 x",
                                body=b"hello"), {400}),
    ("cl_overflow", req(b"POST /echo HTTP/1.1", b"Host: t",
                        b"Content-Length: 99999999999999999999999999", body=b"hello"), {400, 413}),
    ("cl_empty", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: ", body=b"hello"),
     {400}),
    ("te_unknown", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: foo",
                       body=b"hello"), {501, 400}),
    ("te_gzip_chunked", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: gzip, chunked",
                            body=b"0\r\n\r\n"), {501, 400}),
    ("te_chunked_twice_list", req(b"POST /echo HTTP/1.1", b"Host: t",
                                  b"Transfer-Encoding: chunked, chunked", body=b"0\r\n\r\n"), {400}),
    ("te_chunked_two_headers", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                                   b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"), {400}),
    ("te_chunked_not_last", req(b"POST /echo HTTP/1.1", b"Host: t",
                                b"Transfer-Encoding: chunked, identity", body=b"0\r\n\r\n"),
     {400, 501}),
    ("te_identity", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: identity",
                        body=b"hello"), {400, 501}),
    ("te_empty", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: ", body=b"hello"),
     {400, 501}),
    ("te_in_http10", req(b"POST /echo HTTP/1.0", b"Host: t", b"Transfer-Encoding: chunked",
                         body=b"5\r\nhello\r\n0\r\n\r\n"), {400}),
    ("te_space_before_colon", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding : chunked",
                                  body=b"0\r\n\r\n"), {400}),
    ("te_vertical_tab", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: \x0bchunked",
                            body=b"0\r\n\r\n"), {400}),
    # Chunk framing
    ("chunk_size_not_hex", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                               body=b"zz\r\nhello\r\n0\r\n\r\n"), {400}),
    ("chunk_size_negative", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                                body=b"-5\r\nhello\r\n0\r\n\r\n"), {400}),
    ("chunk_size_0x_prefix", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                                 body=b"0x5\r\nhello\r\n0\r\n\r\n"), {400}),
    ("chunk_size_overflow", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                                body=b"10000000000000005\r\nhello\r\n0\r\n\r\n"), {400, 413}),
    ("chunk_size_empty", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                             body=b"\r\nhello\r\n0\r\n\r\n"), {400}),
    ("chunk_data_without_crlf", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                                    body=b"5\r\nhelloXX0\r\n\r\n"), {400}),
    ("chunk_data_bare_lf", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                               body=b"5\r\nhello\n0\r\n\r\n"), {400}),
    ("chunk_size_line_bare_lf", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                                    body=b"5\nhello\r\n0\r\n\r\n"), {400}),
    ("chunk_data_too_long", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                                body=b"3\r\nhello\r\n0\r\n\r\n"), {400}),
    ("chunk_ext_bad", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                          body=b"5;\x01=\r\nhello\r\n0\r\n\r\n"), {400}),
    ("last_chunk_bad_trailer", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                                   body=b"5\r\nhello\r\n0\r\nBad Trailer\r\n\r\n"), {400}),
    # Field lines
    ("space_before_colon", req(b"GET /echo HTTP/1.1", b"Host: t", b"X-Foo : bar"), {400}),
    ("tab_before_colon", req(b"GET /echo HTTP/1.1", b"Host: t", b"X-Foo\t: bar"), {400}),
    ("cl_space_before_colon", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length : 5",
                                  body=b"hello"), {400}),
    ("obs_fold", req(b"GET /echo HTTP/1.1", b"Host: t", b"X-Foo: a", b" b"), {400}),
    ("obs_fold_tab", req(b"GET /echo HTTP/1.1", b"Host: t", b"X-Foo: a", b"\tb"), {400}),
    ("whitespace_before_first_field", req(b"GET /echo HTTP/1.1", b" Host: t"), {400}),
    ("control_byte_in_value", req(b"GET /echo HTTP/1.1", b"Host: t", b"X-Foo: a\x01b"), {400}),
    ("nul_in_value", req(b"GET /echo HTTP/1.1", b"Host: t", b"X-Foo: a\x00b"), {400}),
    ("nul_in_name", req(b"GET /echo HTTP/1.1", b"Host: t", b"X-F\x00oo: ab"), {400}),
    ("del_in_value", req(b"GET /echo HTTP/1.1", b"Host: t", b"X-Foo: a\x7fb"), {400}),
    ("bare_cr_in_value", req(b"GET /echo HTTP/1.1", b"Host: t", b"X-Foo: a\rb"), {400}),
    ("bare_cr_line_end", b"GET /echo HTTP/1.1\rHost: t\r\n\r\n", {400}),
    ("empty_field_name", req(b"GET /echo HTTP/1.1", b"Host: t", b": value"), {400}),
    ("field_without_colon", req(b"GET /echo HTTP/1.1", b"Host: t", b"X-Foo"), {400}),
    ("space_in_field_name", req(b"GET /echo HTTP/1.1", b"Host: t", b"X Foo: bar"), {400}),
    ("non_token_field_name", req(b"GET /echo HTTP/1.1", b"Host: t", b"X(Foo): bar"), {400}),
    # Request line and version
    ("double_space_request_line", req(b"GET  /echo HTTP/1.1", b"Host: t"), {400}),
    ("extra_token_request_line", req(b"GET /echo HTTP/1.1 x", b"Host: t"), {400, 505}),
    ("missing_target", req(b"GET HTTP/1.1", b"Host: t"), {400}),
    ("target_not_origin_form", req(b"GET echo HTTP/1.1", b"Host: t"), {400}),
    ("method_not_token", req(b"G(T /echo HTTP/1.1", b"Host: t"), {400}),
    ("control_byte_in_target", req(b"GET /ec\x01ho HTTP/1.1", b"Host: t"), {400}),
    ("space_in_target", req(b"GET /ec ho HTTP/1.1", b"Host: t"), {400, 505}),
    ("version_lowercase", req(b"GET /echo http/1.1", b"Host: t"), {400}),
    ("version_two_digits", req(b"GET /echo HTTP/1.10", b"Host: t"), {400, 505}),
    ("version_no_minor", req(b"GET /echo HTTP/1", b"Host: t"), {400}),
    ("version_garbage", req(b"GET /echo HTTP/1.1x", b"Host: t"), {400}),
    ("version_2", req(b"GET /echo HTTP/2.0", b"Host: t"), {505}),
    ("version_0_9", req(b"GET /echo HTTP/0.9", b"Host: t"), {400, 505}),
    ("http09_simple_request", b"GET /echo\r\n\r\n", {400, 505, None}),
    ("star_target_for_get", req(b"GET * HTTP/1.1", b"Host: t"), {400}),
    # Host
    ("missing_host", req(b"GET /echo HTTP/1.1", b"X-Foo: bar"), {400}),
    ("duplicate_host", req(b"GET /echo HTTP/1.1", b"Host: a", b"Host: b"), {400}),
    ("invalid_host", req(b"GET /echo HTTP/1.1", b"Host: a b"), {400}),
    ("host_with_slash", req(b"GET /echo HTTP/1.1", b"Host: a/b"), {400}),
    # Sizes (max_header_size 8k, max_body_size 1k)
    ("oversize_header_value", req(b"GET /echo HTTP/1.1", b"Host: t", b"X-Big: " + b"a" * 10000),
     {431}),
    ("oversize_header_many_fields", req(b"GET /echo HTTP/1.1", b"Host: t",
                                        *[b"X-F%d: %s" % (i, b"b" * 90) for i in range(120)]), {431}),
    ("oversize_request_line", req(b"GET /" + b"a" * 12000 + b" HTTP/1.1", b"Host: t"), {414, 431}),
    ("body_over_limit_cl", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: 2000",
                               body=b"x" * 2000), {413}),
    ("body_over_limit_chunked", req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                                    body=b"400\r\n" + b"x" * 1024 + b"\r\n400\r\n" + b"y" * 1024 +
                                    b"\r\n0\r\n\r\n"), {413}),
    ("body_over_limit_expect", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: 2000",
                                   b"Expect: 100-continue"), {413}),
    ("unknown_expectation", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: 5",
                                b"Expect: teapot", body=b"hello"), {417}),
    ("connection_lists_content_length", req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: 5",
                                            b"Connection: Content-Length", body=b"hello"), {400}),
]


def config(env):
    return env.shared_daemon("malformed", limits={"max_header_size": "8k", "max_body_size": "1k"},
                             timeouts={"client_header": "5s"})


def run_case(env, name, data, statuses):
    d = config(env)
    o = env.origin()
    m = o.mark()
    with HttpConn(d.port, timeout=5) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the proxy may close before reading everything; the answer is still owed
        status = None
        try:
            r = c.read_response(skip_1xx=False)
            status = r.status
        except ConnClosed:
            check(None in statuses, "the connection closed without an answer (want %s)" %
                  "/".join(str(s) for s in statuses if s))
        if status is not None:
            check(status in statuses, "answered %d (want %s)" %
                  (status, "/".join(str(s) for s in statuses if s)))
            check(c.closed_within(3), "the connection stayed open after the %d" % status)
    o.assert_nothing_since(m, what=name)
    d.check_alive()


def make(name, data, statuses):
    def t(env):
        run_case(env, name, data, statuses)
    t.timeout = 15
    return "malformed_" + name, t


TESTS = [make(*c) for c in CASES]


def test_bad_chunk_after_streaming_began(env):
    """A bad chunk that arrives late: the upstream request is aborted, never completed."""
    d = config(env)
    o = env.origin()
    m = o.mark()
    with HttpConn(d.port, timeout=5) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        time.sleep(0.5)
        c.send(b"zz\r\nworld\r\n0\r\n\r\n")
        try:
            r = c.read_response()
            check(r.status in (400, 502), "answered %d (want 400)" % r.status)
        except ConnClosed:
            pass
        check(c.closed_within(3), "the connection stayed open after a bad chunk")
    time.sleep(0.3)
    for r in o.requests_since(m):
        check(not r["complete"], "the origin received a complete request: %r" % r["target"])
    d.check_alive()


test_bad_chunk_after_streaming_began.timeout = 15
TESTS.append(("malformed_bad_chunk_after_streaming_began", test_bad_chunk_after_streaming_began))


def test_valid_edge_cases_still_pass(env):
    """Strict is not broken: things RFC 9112 allows must still work."""
    d = config(env)
    ok = [
        req(b"GET /echo HTTP/1.1", b"Host: t", b"X-Tab:\tvalue\t"),
        req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: Chunked",
            body=b"5\r\nhello\r\n0\r\n\r\n"),
        req(b"POST /echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
            body=b"5 ; name=\"v\"\r\nhello\r\n0\r\n\r\n"),
        req(b"POST /echo HTTP/1.1", b"Host: t", b"Content-Length: 0"),
        req(b"GET /echo HTTP/1.1", b"Host: t", b"X-Obs-Text: caf\xe9"),
        b"\r\n" + req(b"GET /echo HTTP/1.1", b"Host: t"),
        req(b"GET /echo HTTP/1.0"),
        req(b"OPTIONS * HTTP/1.1", b"Host: t"),
    ]
    for i, data in enumerate(ok):
        with HttpConn(d.port, timeout=5) as c:
            c.send(data)
            try:
                r = c.read_response()
            except ConnClosed:
                check(False, "valid request %d was refused by closing: %r" % (i, data[:80]))
            check(r.status < 400 or (b"OPTIONS" in data and r.status in (404, 405, 501)),
                  "valid request %d got %d: %r" % (i, r.status, data[:80]))


test_valid_edge_cases_still_pass.timeout = 20
TESTS.append(("malformed_valid_edge_cases_still_pass", test_valid_edge_cases_still_pass))
