/* The gate: from a parsed request to a verdict (who, which class, allowed, what to strip). */
#ifndef LG_GATE_H
#define LG_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "http1.h"
#include "jwt.h"
#include "policy.h"
#include "render.h"
#include "store.h"
#include "students.h"

/* What the gate does with a request. */
enum lg_gate_action {
	LG_GATE_PASS = 0, /* free route: forward untouched (but with the normalised path) */
	LG_GATE_ALLOW,    /* lesson allowed: forward, add Lessongate-* headers */
	LG_GATE_REFUSE,   /* answer `status` here; nothing reaches the upstream */
	LG_GATE_STATUS,   /* the status endpoint: the proxy answers it, nothing is decided */
	LG_GATE_CALENDAR, /* the calendar feed: the proxy answers it (free, no identity) */
	LG_GATE_DECIDE,   /* prepared lesson request: the store decides, lg_gate_commit ends it */
};

/* The path of the status endpoint (after normalisation), answered by the proxy itself. */
#define LG_GATE_STATUS_PATH "/.well-known/lessongate/status"
/* The calendar feed (iCalendar, ?region=CODE), answered by the proxy itself. */
#define LG_GATE_CALENDAR_PATH "/.well-known/lessongate/calendar.ics"

/* Lesson events, for the audit sink. */
enum lg_event_type {
	LG_EV_LESSON_START,
	LG_EV_LESSON_END,
	LG_EV_DENY,
	LG_EV_FORCED_CLOSE,
	LG_EV_UNIDENTIFIED,
};

struct lg_event {
	enum lg_event_type type;
	int64_t time;
	const char *student; /* NULL for unidentified */
	uint32_t region;
	enum lg_class cls;
	enum lg_rule rule;           /* deny, forced_close */
	bool enforced;               /* deny: false in monitor mode */
	int64_t start, end;          /* lesson_end: the lesson's span */
	const char *reason;          /* unidentified: why; forced_close: close reason */
	const char *path;            /* the normalised path, when there is one */
	const struct sockaddr *peer; /* unidentified: the client (the audit log keeps its prefix) */
};

/* Where events go: structured log lines now, the regulators' audit log later. */
struct lg_event_sink {
	void (*emit)(void *arg, const struct lg_event *);
	void *arg;
};

struct lg_gate;

/*
 * A gate for a configuration: loads the JWT keys and trusted networks it
 * names. NULL with errors appended (as "file: message") if they cannot be
 * loaded, so `-t` and a reload catch a bad key file before it is used.
 */
struct lg_gate *lg_gate_new(const struct lg_config *, struct lg_errors *);
void lg_gate_free(struct lg_gate *);
/* The verified-token cache's hits and misses (0 and 0 without JWT identity). */
void lg_gate_jwt_cache_stats(const struct lg_gate *, uint64_t *hits, uint64_t *misses);
const struct lg_config *lg_gate_config(const struct lg_gate *);

/* A request as the daemon parsed it. */
struct lg_gate_request {
	const struct lg_http_request *req;
	const struct lg_http_header *headers;
	size_t nheaders;
	const struct sockaddr *peer;
};

struct lg_gate_verdict {
	enum lg_gate_action action;
	int status; /* REFUSE: 400, 401, 405, 429, 451, or 503 (the store could not answer) */
	enum lg_class cls;
	char reason[96]; /* REFUSE with 400/401/405: why */
	bool identified;
	struct lg_identity id;
	struct lg_decision d; /* ALLOW, and REFUSE with 429/451 */
	/* The target to forward: normalised path, then the query unchanged. */
	char *target;
	size_t target_len;
	/* The peer is trusted to set the identity header (identity.header.trusted_peers). */
	bool trusted_peer;
};

/*
 * The synchronous half of the gate, at unix time `now`: normalise, classify
 * and identify; no student state is read or changed. target_buf (at least
 * twice the target's length + 4 bytes) receives the normalised target, then
 * the canonical path the routes are also matched on: a path is a lesson when
 * either form matches a lesson route. The verdict is final (PASS, STATUS,
 * CALENDAR, REFUSE; an unidentified lesson request's event goes to the sink,
 * which may be NULL) except LG_GATE_DECIDE: then ask the store with the query
 * of lg_gate_query and hand its answer to lg_gate_commit. v->target points
 * into target_buf and v->id into v: keep both until the commit.
 */
void lg_gate_prepare(struct lg_gate *, const struct lg_gate_request *, int64_t now,
                     char *target_buf, size_t target_cap, const struct lg_event_sink *,
                     struct lg_gate_verdict *);

/* The store query of a verdict prepared as LG_GATE_DECIDE at now. */
void lg_gate_query(const struct lg_gate *, const struct lg_gate_verdict *, int64_t now,
                   struct lg_store_query *);

/* Retry-After of a 503 when the store cannot answer (seconds). */
#define LG_GATE_STORE_RETRY 5
/* Why a lesson request is refused with 503 when the store cannot answer. */
#define LG_GATE_STORE_DOWN "student store unavailable"

/*
 * The second half: the store's answer (or NULL: no answer within its
 * timeout) makes the verdict ALLOW or REFUSE (429/451; 503 with Retry-After
 * LG_GATE_STORE_RETRY when the store could not answer), then the events of
 * the committed decision (lesson_end, lesson_start, deny) go to the sink.
 */
void lg_gate_commit(struct lg_gate *, struct lg_gate_verdict *, int64_t now,
                    const struct lg_store_result *, const struct lg_event_sink *);

/*
 * prepare, decide and commit in one call, for callers without an event loop
 * (lessongatectl simulate, tests, the benchmark): the store must be
 * synchronous (the memory store); else a lesson request is refused as if the
 * store did not answer.
 */
void lg_gate_check(struct lg_gate *, struct lg_store *, const struct lg_gate_request *, int64_t now,
                   char *target_buf, size_t target_cap, const struct lg_event_sink *,
                   struct lg_gate_verdict *);

/* Why a request naming more than one student, or hiding its credential field, is refused. */
#define LG_GATE_AMBIGUOUS "ambiguous_identity"

/*
 * Who the request is from: 1 identified, 0 no identity given, -1 invalid
 * (reason set). Every configured source is read (a trusted identity header,
 * each JWT source): when more than one carries a credential, all must verify
 * and name the same student and region, else -1 with LG_GATE_AMBIGUOUS; so
 * is a request whose Connection header lists a field that carried one.
 */
int lg_gate_identify(struct lg_gate *, const struct lg_gate_request *, int64_t now,
                     struct lg_identity *, char *reason, size_t reasonlen);

/*
 * Whether a client's field must not reach the origin: a copy of
 * identity.forward_header (which lessongate sets itself), the identity header
 * from a peer that is not trusted, a look-alike of either (same name once case
 * is folded and '_' is '-') from any peer, or a name in
 * upstream.strip_request_headers.
 */
bool lg_gate_strips(const struct lg_gate *, const struct lg_gate_verdict *,
                    const struct lg_http_header *);

/* "Lessongate-Remaining: N\r\nLessongate-Deadline: ...\r\n" for an allowed lesson. */
void lg_gate_allow_headers(const struct lg_gate *, const struct lg_gate_verdict *, struct lg_buf *);

/*
 * A complete refusal response (status line, headers, body): JSON, or the
 * bilingual page when the client's Accept prefers HTML.
 */
void lg_gate_refusal(const struct lg_gate *, const struct lg_gate_verdict *, int64_t now,
                     const struct lg_gate_request *, bool keep_alive, struct lg_buf *);

/*
 * The status document of /.well-known/lessongate/status for a student: the
 * rules, today's day kind, and for each lesson class whether a lesson is
 * allowed now, its remaining time and deadline, or when the break ends.
 * Read-only: the student's state is not changed.
 */
void lg_gate_status_json(const struct lg_gate *, struct lg_store *, const struct lg_identity *,
                         int64_t now, struct lg_buf *);

const char *lg_event_name(enum lg_event_type);

#endif
