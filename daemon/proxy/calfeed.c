/* /.well-known/lessongate/calendar.ics?region=: the calendar feed, cacheable by ETag. */
#include "conn.h"

#include <string.h>

#include "calendar_ics.h"

/* Subscribers may keep the feed this long before asking again (with If-None-Match). */
#define FEED_MAX_AGE 3600

/* The value of query parameter `name` in the request target; 1 if present, 0 if not. */
static int
query_param(const struct lg_http_str *target, const char *name, const char **val, size_t *len)
{
	const char *end = target->p + target->len, *s = memchr(target->p, '?', target->len);
	size_t nl = strlen(name);

	while (s != NULL && s < end) {
		const char *amp;
		s++;
		amp = memchr(s, '&', (size_t)(end - s));
		if ((size_t)((amp ? amp : end) - s) > nl && memcmp(s, name, nl) == 0 &&
		    s[nl] == '=') {
			*val = s + nl + 1;
			*len = (size_t)((amp ? amp : end) - *val);
			return 1;
		}
		s = amp;
	}
	return 0;
}

/* A short JSON error of our own, kept alive where the request allows it. */
static void
feed_error(struct lgd_conn *c, size_t head_len, bool keep, int status, const char *extra,
           const char *body)
{
	evbuffer_add_printf(bufferevent_get_output(c->down.bev),
	                    "HTTP/1.1 %d %s\r\n%sContent-Type: application/json; charset=utf-8\r\n"
	                    "Content-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n%s",
	                    status, lgd_status_text(status), extra, strlen(body),
	                    keep ? "" : "Connection: close\r\n", body);
	lgd_proxy_answered(c, head_len, keep, "calendar feed: refused");
}

/*
 * GET or HEAD: the feed for ?region= (else the default region, else the
 * national calendar) over the loaded years, with a weak ETag; 304 when
 * If-None-Match has it. A free route: no identity is asked for.
 */
void
lgd_calfeed_answer(struct lgd_conn *c, const struct lg_gate_request *gr, size_t head_len,
                   int64_t now)
{
	const struct lg_config *cf = c->rt->cf;
	struct evbuffer *out = bufferevent_get_output(c->down.bev);
	bool keep = lgd_lesson_keep_alive(c, gr->req), head = gr->req->method == LG_HTTP_HEAD;
	struct lg_ics_feed feed = {.stamp = now};
	struct lg_buf *body = &c->w->out;
	char tag[LG_ICS_ETAG_SIZE], code[8];
	const char *v;
	size_t vlen;
	ssize_t inm;

	if (gr->req->method != LG_HTTP_GET && !head) {
		feed_error(c, head_len, keep, 405, "Allow: GET, HEAD\r\n",
		           "{\"error\":\"method_not_allowed\",\"reason\":\"the calendar is read "
		           "with GET\"}\n");
		return;
	}
	if (query_param(&gr->req->path, "region", &v, &vlen)) {
		size_t n = vlen < sizeof(code) - 1 ? vlen : sizeof(code) - 1;
		memcpy(code, v, n);
		code[n] = '\0';
		if (vlen != 6 || lg_region_parse(code, &feed.region) != 0) {
			feed_error(
			    c, head_len, keep, 400, "",
			    "{\"error\":\"bad_region\",\"reason\":\"region must be a six-digit "
			    "GB/T 2260 code, such as 533100\"}\n");
			return;
		}
	} else {
		feed.region = cf->calendar_opts.default_region ? cf->calendar_opts.default_region
		                                               : LG_REGION_NONE;
	}
	if (!lg_calendar_range(cf->calendar, &feed.from, &feed.to)) {
		feed_error(
		    c, head_len, keep, 404, "",
		    "{\"error\":\"no_calendar\",\"reason\":\"no calendar file is loaded\"}\n");
		return;
	}
	if (feed.to - feed.from >= LG_ICS_MAX_DAYS)
		feed.from = feed.to - LG_ICS_MAX_DAYS + 1;
	feed.subject_blocked = cf->rules.cls[LG_CLASS_SUBJECT].blocked_days;
	lg_calendar_ics_etag(cf->calendar, &feed, tag);
	inm = lg_http_find_header(gr->headers, gr->nheaders, 0, "if-none-match");
	if (inm >= 0 &&
	    lg_ics_etag_match(gr->headers[inm].value, gr->headers[inm].value_len, tag)) {
		evbuffer_add_printf(out,
		                    "HTTP/1.1 304 Not Modified\r\nETag: %s\r\n"
		                    "Cache-Control: public, max-age=%d\r\n%s\r\n",
		                    tag, FEED_MAX_AGE, keep ? "" : "Connection: close\r\n");
		lgd_proxy_answered(c, head_len, keep, "calendar feed: not modified");
		return;
	}
	body->len = 0;
	lg_calendar_ics(cf->calendar, &feed, body);
	evbuffer_add_printf(out,
	                    "HTTP/1.1 200 OK\r\nContent-Type: text/calendar; charset=utf-8\r\n"
	                    "Content-Length: %zu\r\nETag: %s\r\nCache-Control: public, "
	                    "max-age=%d\r\n%s\r\n",
	                    body->len, tag, FEED_MAX_AGE, keep ? "" : "Connection: close\r\n");
	if (!head)
		evbuffer_add(out, body->data, body->len);
	lgd_proxy_answered(c, head_len, keep, "calendar feed answered");
}
