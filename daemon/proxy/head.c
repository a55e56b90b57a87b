/* Building forwarded heads (hop-by-hop and stripped fields removed, X-Forwarded-*, Via, the
 * charged student) and error pages. */
#include "conn.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* Append n bytes; the caller sized the scratch buffer for the worst case. */
#define PUT(p, s, n)                                                                               \
	do {                                                                                       \
		memcpy((p), (s), (n));                                                             \
		(p) += (n);                                                                        \
	} while (0)
#define PUTS(p, lit) PUT(p, lit, sizeof(lit) - 1)

/* The worker's scratch buffer, grown to at least need bytes. */
static char *
scratch(struct lgd_worker *w, size_t need)
{
	if (w->scratch_len < need) {
		w->scratch = lg_xrealloc(w->scratch, need, 1);
		w->scratch_len = need;
	}
	return w->scratch;
}

/*
 * Copy one field line as "name: value\r\n": in one piece when the received
 * line is exactly that (no OWS but the one space; the parser checked the line,
 * so its CRLF follows the value).
 */
static char *
put_field(char *p, const struct lg_http_header *h)
{
	if (h->value == h->name + h->name_len + 2 && h->name[h->name_len + 1] == ' ' &&
	    h->value[h->value_len] == '\r') {
		PUT(p, h->name, h->name_len + h->value_len + 4);
		return p;
	}
	PUT(p, h->name, h->name_len);
	PUTS(p, ": ");
	PUT(p, h->value, h->value_len);
	PUTS(p, "\r\n");
	return p;
}

/* The request head sent upstream: origin-form target, HTTP/1.1, proxy fields added. */
void
lgd_head_request(struct lgd_conn *c, const struct lg_http_request *req,
                 const struct lg_http_header *h, size_t n, size_t head_len,
                 const struct lgd_fwd *fwd, struct evbuffer *out)
{
	const char *instance = c->rt->cf->instance, *upstream = c->rt->cf->upstream.address;
	const char *student_field = c->rt->cf->identity.forward_header;
	/* Each length once: strlen was a tenth of this function. */
	size_t instance_len = strlen(instance), upstream_len = strlen(upstream);
	size_t field_len = strlen(student_field), peer_len = strlen(c->peer);
	size_t need = head_len * 2 + fwd->target_len + instance_len + upstream_len + field_len +
	              fwd->student_len + 256;
	char *base = scratch(c->w, need), *p = base;
	bool host_seen = false, xff = false;
	size_t last_xff = n;
	uint64_t hop[(LGD_MAX_HEADERS + 63) / 64];

	for (size_t i = 0; i < n; i++)
		if (h[i].name_len == 15 && lg_http_header_is(&h[i], "x-forwarded-for"))
			last_xff = i;
	lg_http_hop_by_hop_mask(h, n, hop);

	PUT(p, req->method_name.p, req->method_name.len);
	PUTS(p, " ");
	/* The gate's target: the normalised path it classified, and the query as sent. */
	PUT(p, fwd->target, fwd->target_len);
	PUTS(p, " HTTP/1.1\r\n");
	if (req->host_from_target || req->host.len == 0) {
		PUTS(p, "Host: ");
		if (req->host.len)
			PUT(p, req->host.p, req->host.len);
		else
			PUT(p, upstream, upstream_len);
		PUTS(p, "\r\n");
		host_seen = true;
	}
	for (size_t i = 0; i < n; i++) {
		const struct lg_http_header *f = &h[i];
		/* Identity spoofs, look-alikes, rewrite fields (lg_gate_strips). */
		if (fwd->strip[i / 64] >> (i % 64) & 1)
			continue;
		switch (f->name_len) {
		case 4:
			if (lg_http_header_is(f, "host")) {
				if (host_seen)
					continue;
				host_seen = true;
			}
			break;
		case 15:
			if (i == last_xff) {
				/* Append to the chain the client sent, like nginx's
				 * $proxy_add_x_forwarded_for; it stays untrusted data. */
				PUTS(p, "X-Forwarded-For: ");
				PUT(p, f->value, f->value_len);
				PUTS(p, ", ");
				PUT(p, c->peer, peer_len);
				PUTS(p, "\r\n");
				xff = true;
				continue;
			}
			break;
		case 21:
			if (lg_http_header_is(f, "lessongate-test-close") && c->lc->test_hooks)
				continue;
			break;
		case 17:
			/* The chunked framing is forwarded as received, so its header stays. */
			if (req->framing == LG_HTTP_BODY_CHUNKED &&
			    lg_http_header_is(f, "transfer-encoding")) {
				p = put_field(p, f);
				continue;
			}
			if (lg_http_header_is(f, "x-forwarded-proto"))
				continue;
			break;
		case 7:
			if (c->req_websocket && lg_http_header_is(f, "upgrade")) {
				p = put_field(p, f);
				continue;
			}
			break;
		}
		if (hop[i / 64] >> (i % 64) & 1)
			continue;
		p = put_field(p, f);
	}
	if (!xff) {
		PUTS(p, "X-Forwarded-For: ");
		PUT(p, c->peer, peer_len);
		PUTS(p, "\r\n");
	}
	if (fwd->student != NULL) {
		/* The student the gate charged: only lessongate sets this field. */
		PUT(p, student_field, field_len);
		PUTS(p, ": ");
		PUT(p, fwd->student, fwd->student_len);
		PUTS(p, "\r\n");
	}
	if (c->tls)
		PUTS(p, "X-Forwarded-Proto: https\r\n");
	else
		PUTS(p, "X-Forwarded-Proto: http\r\n");
	if (req->minor_version == 0)
		PUTS(p, "Via: 1.0 ");
	else
		PUTS(p, "Via: 1.1 ");
	PUT(p, instance, instance_len);
	PUTS(p, "\r\n");
	if (c->req_websocket)
		PUTS(p, "Connection: upgrade\r\n");
	PUTS(p, "\r\n");
	evbuffer_add(out, base, (size_t)(p - base));
	if (c->reused && req->framing == LG_HTTP_BODY_NONE) {
		/* A plain buffer kept for the connection: an evbuffer's chain would be allocated
		 * and freed at every request. */
		size_t len = (size_t)(p - base);
		if (c->retry_cap < len) {
			c->retry = lg_xrealloc(c->retry, len, 1);
			c->retry_cap = len;
		}
		memcpy(c->retry, base, len);
		c->retry_len = len;
	}
}

/* The response head sent to the client. */
void
lgd_head_response(struct lgd_conn *c, const struct lg_http_response *res,
                  const struct lg_http_header *h, size_t n, size_t head_len, struct evbuffer *out)
{
	const char *instance = c->rt->cf->instance;
	size_t instance_len = strlen(instance);
	size_t need = head_len + instance_len + c->lesson.hdr_len + 256;
	char *base = scratch(c->w, need), *p = base;
	bool interim = res->status < 200, upgrade = res->status == 101;
	uint64_t hop[(LGD_MAX_HEADERS + 63) / 64];

	PUTS(p, "HTTP/1.1 ");
	*p++ = (char)('0' + res->status / 100);
	*p++ = (char)('0' + res->status / 10 % 10);
	*p++ = (char)('0' + res->status % 10);
	PUTS(p, " ");
	PUT(p, res->reason.p, res->reason.len);
	PUTS(p, "\r\n");
	lg_http_hop_by_hop_mask(h, n, hop);
	for (size_t i = 0; i < n; i++) {
		const struct lg_http_header *f = &h[i];
		if (f->name_len == 17 && c->res_chunked && !c->dechunk &&
		    lg_http_header_is(f, "transfer-encoding")) {
			p = put_field(p, f);
			continue;
		}
		if (f->name_len == 7 && upgrade && lg_http_header_is(f, "upgrade")) {
			p = put_field(p, f);
			continue;
		}
		if (hop[i / 64] >> (i % 64) & 1)
			continue;
		p = put_field(p, f);
	}
	if ((!interim || upgrade) && c->lesson.active)
		PUT(p, c->lesson.hdr, c->lesson.hdr_len); /* Lessongate-Remaining, -Deadline */
	if (!interim) {
		PUTS(p, "Via: 1.1 ");
		PUT(p, instance, instance_len);
		PUTS(p, "\r\n");
		if (c->close_after)
			PUTS(p, "Connection: close\r\n");
		else if (c->req_http10)
			PUTS(p, "Connection: keep-alive\r\n");
	} else if (upgrade) {
		PUTS(p, "Connection: upgrade\r\n");
	}
	PUTS(p, "\r\n");
	evbuffer_add(out, base, (size_t)(p - base));
}

/* The reason phrase of a status the proxy answers itself. */
const char *
lgd_status_text(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 417:
		return "Expectation Failed";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

/* A complete error response of our own, always with Connection: close. */
void
lgd_head_error(struct evbuffer *out, int status, const char *reason)
{
	char body[256], safe[160];
	size_t j = 0;
	int bl;

	for (const char *s = reason ? reason : ""; *s && j + 2 < sizeof(safe); s++)
		if (*s != '"' && *s != '\\' && (unsigned char)*s >= 0x20)
			safe[j++] = *s;
	safe[j] = '\0';
	bl = snprintf(body, sizeof(body), "{\"status\":%d,\"error\":\"%s\"}\n", status, safe);
	evbuffer_add_printf(out,
	                    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	                    "Content-Length: %d\r\nConnection: close\r\nCache-Control: no-store\r\n"
	                    "\r\n%s",
	                    status, lgd_status_text(status), bl, body);
}
