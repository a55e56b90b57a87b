/*
 * lessongatectl's HTTP client (OpenSSL BIO/SSL, blocking): one request per
 * connection (GET, or POST with an empty body), plain http:// or https://
 * with a client certificate and the server checked against a CA and its
 * name; a connect timeout and an overall deadline per request. The response
 * head and body are read with lib/http's parser (1xx heads skipped).
 */
#include "ctl_fetch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "http1.h"
#include "util.h"

/* Seconds a request may take in all (connect, handshake, response), unless set. */
#define FETCH_TIMEOUT_S 30
/* Seconds a connect may take (within the request's deadline). */
#define CONNECT_TIMEOUT_S 10
/* What a server that refuses our client certificate looks like from here (TLS 1.3). */
#define REFUSED_HINT "(refused our client certificate?)"

struct lgctl_https {
	SSL_CTX *ctx;   /* NULL: plain http:// */
	char host[256]; /* without brackets */
	char port[8];
	char hostport[300];
	char prefix[512]; /* the URL's path, without its last '/' */
	int timeout_s;    /* a request's deadline */
	struct timespec deadline;
};

/* The first OpenSSL error as text (or what), into err; -1. */
static int
ssl_fail(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e == 0)
		return lg_fail(err, errlen, "%s", what);
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return lg_fail(err, errlen, "%s: %s", what, buf);
}

/* Split "http[s]://HOST[:PORT][/PATH]" into the client's host, port, host:port and prefix;
 * whether it is https in *tls; 0 or -1. */
static int
parse_url(struct lgctl_https *h, const char *url, bool *tls, char *err, size_t errlen)
{
	const char *p, *end, *port = NULL;
	size_t n;

	if (strncmp(url, "https://", 8) == 0)
		*tls = true, p = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		*tls = false, p = url + 7;
	else
		return lg_fail(err, errlen, "--url \"%s\": not an https:// (or http://) URL", url);
	end = p + strcspn(p, "/?#");
	if (*end == '?' || *end == '#')
		return lg_fail(err, errlen, "--url \"%s\": a query or fragment is not allowed",
		               url);
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (rb == NULL || (rb + 1 != end && rb[1] != ':'))
			return lg_fail(err, errlen, "--url \"%s\": a bad [IPv6] host", url);
		n = (size_t)(rb - p - 1);
		if (n == 0 || n >= sizeof(h->host))
			return lg_fail(err, errlen, "--url \"%s\": a bad [IPv6] host", url);
		memcpy(h->host, p + 1, n);
		h->host[n] = '\0';
		if (rb + 1 != end)
			port = rb + 2;
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		n = (size_t)((colon ? colon : end) - p);
		if (n == 0 || n >= sizeof(h->host))
			return lg_fail(err, errlen, "--url \"%s\": no host", url);
		memcpy(h->host, p, n);
		h->host[n] = '\0';
		if (colon)
			port = colon + 1;
	}
	if (port == NULL)
		port = *tls ? "443" : "80", n = strlen(port);
	else if ((n = (size_t)(end - port)) == 0 || n > 5 || strspn(port, "0123456789") < n)
		return lg_fail(err, errlen, "--url \"%s\": a bad port", url);
	snprintf(h->port, sizeof(h->port), "%.*s", (int)n, port);
	snprintf(h->hostport, sizeof(h->hostport), strchr(h->host, ':') ? "[%s]:%s" : "%s:%s",
	         h->host, h->port);
	n = strlen(end);
	while (n && end[n - 1] == '/')
		n--;
	if (n >= sizeof(h->prefix))
		return lg_fail(err, errlen, "--url \"%s\": the path is too long", url);
	memcpy(h->prefix, end, n);
	h->prefix[n] = '\0';
	return 0;
}

/* A client: the URL, our certificate and key, the CA the server's must chain to. */
struct lgctl_https *
lgctl_https_new(const char *url, const char *cert, const char *key, const char *cacert, char *err,
                size_t errlen)
{
	struct lgctl_https *h = lg_xcalloc(1, sizeof(*h));
	bool tls = false;

	/* A server that drops us (a refused client certificate) must not kill us on write. */
	signal(SIGPIPE, SIG_IGN);
	h->timeout_s = FETCH_TIMEOUT_S;
	if (parse_url(h, url, &tls, err, errlen) != 0)
		goto fail;
	if (key != NULL && cert == NULL) {
		lg_fail(err, errlen, "--cert-key needs --cert");
		goto fail;
	}
	if (!tls)
		return h;
	if ((h->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		ssl_fail(err, errlen, "cannot make a TLS context");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(h->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(h->ctx, SSL_VERIFY_PEER, NULL);
	if (cacert ? SSL_CTX_load_verify_locations(h->ctx, cacert, NULL) != 1
	           : SSL_CTX_set_default_verify_paths(h->ctx) != 1) {
		char what[600];
		snprintf(what, sizeof(what), "--cacert %s: cannot load the CA certificates",
		         cacert ? cacert : "(system)");
		ssl_fail(err, errlen, what);
		goto fail;
	}
	if (cert && SSL_CTX_use_certificate_chain_file(h->ctx, cert) != 1) {
		char what[600];
		snprintf(what, sizeof(what), "--cert %s: cannot load the certificate", cert);
		ssl_fail(err, errlen, what);
		goto fail;
	}
	/* Without --cert-key, the key is in the --cert file. */
	if (cert && (SSL_CTX_use_PrivateKey_file(h->ctx, key ? key : cert, SSL_FILETYPE_PEM) != 1 ||
	             SSL_CTX_check_private_key(h->ctx) != 1)) {
		char what[600];
		snprintf(what, sizeof(what),
		         "--cert-key %s: cannot load the key, or it is not --cert's",
		         key ? key : "(none: in --cert)");
		ssl_fail(err, errlen, what);
		goto fail;
	}
	return h;
fail:
	lgctl_https_free(h);
	return NULL;
}

/* Give every request at most seconds in all (connect, handshake, response). */
void
lgctl_https_timeout(struct lgctl_https *h, int seconds)
{
	h->timeout_s = seconds > 0 ? seconds : FETCH_TIMEOUT_S;
}

/* Milliseconds left before the request's deadline (0 if passed). */
static int
left_ms(const struct lgctl_https *h)
{
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(h->deadline.tv_sec - now.tv_sec) * 1000 +
	     (h->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? (int)(ms > INT32_MAX ? INT32_MAX : ms) : 0;
}

/* Bound the socket's reads and writes by the time left (at least a millisecond). */
static void
bound_io(const struct lgctl_https *h, int fd)
{
	int ms = left_ms(h);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000 + (ms ? 0 : 1000)};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A TCP connection to one address within ms; the fd (blocking again), or -1 with errno. */
static int
connect_within(const struct addrinfo *ai, int ms)
{
	struct pollfd pf;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), e = 0;
	socklen_t el = sizeof(e);

	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS)
			goto fail;
		pf.fd = fd;
		pf.events = POLLOUT;
		if (poll(&pf, 1, ms) != 1) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) {
			errno = e ? e : ECONNREFUSED;
			goto fail;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Free a client. */
void
lgctl_https_free(struct lgctl_https *h)
{
	if (h == NULL)
		return;
	SSL_CTX_free(h->ctx);
	free(h);
}

/* A connection to the server (TLS with its certificate and name checked, if https), within
 * the request's deadline; NULL with the reason. */
static BIO *
connect_server(struct lgctl_https *h, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res, *ai;
	BIO *tcp, *b = NULL;
	SSL *ssl = NULL;
	unsigned char ip[16];
	int fd = -1, rc, ms;
	long vr;

	if ((rc = getaddrinfo(h->host, h->port, &hints, &res)) != 0) {
		lg_fail(err, errlen, "%s: cannot connect: %s", h->hostport, gai_strerror(rc));
		return NULL;
	}
	errno = ETIMEDOUT;
	for (ai = res; ai && fd < 0 && (ms = left_ms(h)) > 0; ai = ai->ai_next)
		fd = connect_within(ai,
		                    ms < CONNECT_TIMEOUT_S * 1000 ? ms : CONNECT_TIMEOUT_S * 1000);
	freeaddrinfo(res);
	if (fd < 0) {
		lg_fail(err, errlen, "%s: cannot connect: %s", h->hostport, strerror(errno));
		return NULL;
	}
	/* A server that stops answering is given up on at the deadline, not waited for. */
	bound_io(h, fd);
	if ((tcp = BIO_new_socket(fd, BIO_CLOSE)) == NULL) {
		close(fd);
		ssl_fail(err, errlen, "cannot make a connection");
		return NULL;
	}
	if (h->ctx == NULL)
		return tcp;
	if ((b = BIO_new_ssl(h->ctx, 1)) == NULL) {
		ssl_fail(err, errlen, "cannot make a TLS connection");
		BIO_free_all(tcp);
		return NULL;
	}
	b = BIO_push(b, tcp);
	BIO_get_ssl(b, &ssl);
	SSL_set_mode(ssl, SSL_MODE_AUTO_RETRY);
	if (inet_pton(AF_INET, h->host, ip) == 1 || inet_pton(AF_INET6, h->host, ip) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), h->host);
	} else {
		SSL_set_tlsext_host_name(ssl, h->host);
		SSL_set1_host(ssl, h->host);
	}
	if (BIO_do_handshake(b) <= 0) {
		char what[600];
		vr = SSL_get_verify_result(ssl);
		if (vr != X509_V_OK)
			lg_fail(err, errlen, "%s: the server's certificate is not trusted: %s",
			        h->hostport, X509_verify_cert_error_string(vr));
		else {
			snprintf(what, sizeof(what), "%s: the TLS handshake failed%s " REFUSED_HINT,
			         h->hostport, left_ms(h) == 0 ? " (timed out)" : "");
			ssl_fail(err, errlen, what);
		}
		BIO_free_all(b);
		return NULL;
	}
	return b;
}

/* The value of the first field called name, or NULL. */
static const char *
field(const struct lg_http_header *hd, size_t n, const char *name, size_t *len)
{
	ssize_t i = lg_http_find_header(hd, n, 0, name);

	if (i < 0)
		return NULL;
	*len = hd[i].value_len;
	return hd[i].value;
}

/* method (GET or POST, with an empty body) path; the body to fn. */
int
lgctl_https_request(struct lgctl_https *h, const char *method, const char *path, const char *accept,
                    int *status, lgctl_https_body_fn fn, void *arg, char *err, size_t errlen)
{
	struct lg_http_header hd[64];
	struct lg_http_parser p;
	struct lg_http_response res;
	struct lg_http_body body;
	struct lg_buf in = {0}, req = {0};
	BIO *b;
	int rc = -1, head = LG_HTTP_NEED_MORE;
	size_t used = 0;
	bool eof = false;

	bool post = strcmp(method, "POST") == 0;

	clock_gettime(CLOCK_MONOTONIC, &h->deadline);
	h->deadline.tv_sec += h->timeout_s;
	if ((b = connect_server(h, err, errlen)) == NULL)
		return LGCTL_UNREACHABLE;
	lg_buf_printf(&req, "%s %s%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n",
	              post ? "POST" : "GET", h->prefix, path, h->hostport);
	if (post)
		LG_BUF_LIT(&req, "Content-Length: 0\r\n");
	if (accept)
		lg_buf_printf(&req, "Accept: %s\r\n", accept);
	LG_BUF_LIT(&req, "User-Agent: lessongatectl\r\n\r\n");
	if (BIO_write(b, req.data, (int)req.len) != (int)req.len || BIO_flush(b) != 1) {
		ssl_fail(err, errlen,
		         "cannot send the request: the server closed the connection " REFUSED_HINT);
		rc = LGCTL_UNREACHABLE;
		goto out;
	}
	lg_http_parser_init(&p, NULL, hd, sizeof(hd) / sizeof(hd[0]));
	for (;;) {
		char chunk[16384];
		int n;

		/* Consume what is buffered: the head, then body runs. */
		if (head == LG_HTTP_NEED_MORE && !eof) {
			head = lg_http_parse_response(&p, in.data ? in.data : "", in.len,
			                              post ? LG_HTTP_POST : LG_HTTP_GET, &res);
			if (head == LG_HTTP_ERROR) {
				lg_fail(err, errlen, "a malformed response: %s",
				        lg_http_strerror(p.error.code));
				goto out;
			}
			if (head >= 0 && res.status >= 100 && res.status < 200) {
				/* An interim response (100 Continue, 103): the final one follows.
				 */
				memmove(in.data, in.data + head, in.len - (size_t)head);
				in.len -= (size_t)head;
				lg_http_parser_init(&p, NULL, hd, sizeof(hd) / sizeof(hd[0]));
				head = LG_HTTP_NEED_MORE;
				continue;
			}
			if (head >= 0) {
				size_t len;
				const char *ce =
				    field(hd, res.num_headers, "Content-Encoding", &len);
				if (ce && !(len == 8 && strncasecmp(ce, "identity", 8) == 0)) {
					lg_fail(err, errlen,
					        "a response with Content-Encoding %.*s", (int)len,
					        ce);
					goto out;
				}
				*status = res.status;
				used = (size_t)head;
				lg_http_body_init(&body, res.framing, res.content_length, NULL,
				                  true);
			}
		}
		while (head >= 0 && used < in.len) {
			struct lg_http_str data = {0};
			ssize_t k = lg_http_body_feed(&body, in.data + used, in.len - used, &data);
			if (k < 0) {
				lg_fail(err, errlen, "a malformed response body: %s",
				        lg_http_strerror(body.error.code));
				goto out;
			}
			if (k == 0)
				break;
			used += (size_t)k;
			if (data.len && fn && fn(arg, data.p, data.len) != 0) {
				lg_fail(err, errlen, "stopped while reading the response");
				goto out;
			}
		}
		if (head >= 0 && (lg_http_body_done(&body) || res.framing == LG_HTTP_BODY_NONE)) {
			rc = 0;
			goto out;
		}
		if (eof) {
			if (head >= 0 && lg_http_body_eof(&body) == 0) {
				rc = 0;
				goto out;
			}
			lg_fail(err, errlen,
			        "the server closed the connection before the whole "
			        "response");
			goto out;
		}
		if (head >= 0 && used == in.len) {
			in.len = 0;
			used = 0;
		}
		if (left_ms(h) == 0) {
			lg_fail(err, errlen, "no %sresponse within %d s", in.len ? "complete " : "",
			        h->timeout_s);
			if (head == LG_HTTP_NEED_MORE && in.len == 0)
				rc = LGCTL_UNREACHABLE; /* not a word: as good as not there */
			goto out;
		}
		bound_io(h, (int)BIO_get_fd(b, NULL));
		n = BIO_read(b, chunk, sizeof(chunk));
		if (n > 0)
			lg_buf_add(&in, chunk, (size_t)n);
		else if (left_ms(h) == 0)
			continue; /* said above */
		else if (!BIO_should_retry(b))
			eof = true; /* a close, with or without close_notify */
		if (eof && head == LG_HTTP_NEED_MORE) {
			ssl_fail(err, errlen,
			         in.len
			             ? "the server closed the connection mid-head"
			             : "no response: the server closed the connection (refused our "
			               "client certificate?)");
			if (in.len == 0)
				rc = LGCTL_UNREACHABLE;
			goto out;
		}
	}
out:
	ERR_clear_error();
	lg_buf_free(&in);
	lg_buf_free(&req);
	BIO_free_all(b);
	return rc;
}

/* Where a buffered GET collects its body. */
struct sink {
	struct lg_buf *out;
	size_t max;
};

/* Append a body run, up to the limit. */
static int
to_buf(void *arg, const char *data, size_t n)
{
	struct sink *s = arg;

	if (s->out->len + n > s->max)
		return -1;
	lg_buf_add(s->out, data, n);
	return 0;
}

/* GET path; the body to fn. */
int
lgctl_https_get(struct lgctl_https *h, const char *path, const char *accept, int *status,
                lgctl_https_body_fn fn, void *arg, char *err, size_t errlen)
{
	return lgctl_https_request(h, "GET", path, accept, status, fn, arg, err, errlen);
}

/* method path into a buffer (at most max bytes). */
int
lgctl_https_request_buf(struct lgctl_https *h, const char *method, const char *path,
                        const char *accept, int *status, struct lg_buf *out, size_t max, char *err,
                        size_t errlen)
{
	struct sink s = {out, max};
	int rc = lgctl_https_request(h, method, path, accept, status, to_buf, &s, err, errlen);

	if (rc != 0 && out->len + 16384 > max && strstr(err, "stopped"))
		snprintf(err, errlen, "the response is larger than %zu bytes", max);
	return rc;
}

/* GET path into a buffer. */
int
lgctl_https_get_buf(struct lgctl_https *h, const char *path, const char *accept, int *status,
                    struct lg_buf *out, size_t max, char *err, size_t errlen)
{
	return lgctl_https_request_buf(h, "GET", path, accept, status, out, max, err, errlen);
}
