/*
 * One proxied client connection: a downstream half (the client) and an
 * upstream half, each a bufferevent with its own progress state, driven by
 * one explicit connection state. Every transition goes through
 * lgd_conn_set_state(), every teardown through lgd_conn_close(), and the
 * struct is freed from the event loop after the close, so no callback ever
 * sees freed memory. The struct is shared by conn.c, proxy.c, head.c and
 * tunnel.c only.
 */
#ifndef LGD_CONN_H
#define LGD_CONN_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "clock.h"
#include "http1.h"
#include "ws.h"
#include "runtime.h"
#include "splice.h"
#include "worker.h"

/* How long an ended stream may take to reach a chunk boundary before the connection closes. */
#define LGD_END_STREAM_GRACE_MS 2000

/* Bytes queued towards a peer before the other side stops reading; resume below LOW. */
#define LGD_HIGH_WATER (256 * 1024)
#define LGD_LOW_WATER  (64 * 1024)

enum lgd_conn_state {
	LGD_CONN_IDLE,           /* keep-alive: waiting for the first byte of a request */
	LGD_CONN_HEAD,           /* reading a request head (client_header timeout) */
	LGD_CONN_DECIDE,         /* head kept in the input: waiting for the store's decision */
	LGD_CONN_CONNECT,        /* request head taken, upstream connection being opened */
	LGD_CONN_PROXY,          /* request and response flowing (see the half states) */
	LGD_CONN_TUNNEL,         /* WebSocket after the upstream's 101 */
	LGD_CONN_TUNNEL_CLOSING, /* Close frames sent at frame boundaries, waiting to flush */
	LGD_CONN_EVENTS,  /* the proxy's own event stream (status SSE) until the client goes */
	LGD_CONN_CLOSING, /* flushing the last bytes to the client, then close */
	LGD_CONN_CLOSED   /* waiting for the deferred free */
};

/* Progress of one direction of the current exchange. */
enum lgd_half_state {
	LGD_HALF_HEAD, /* head not complete */
	LGD_HALF_BODY, /* body flowing */
	LGD_HALF_DONE  /* message complete */
};

/* Where a forwarded chunked body is, so a stream can be ended at a chunk boundary. */
struct lgd_chunk_track {
	uint64_t left; /* data bytes left in this chunk */
	uint8_t st;
	bool last; /* the size line was 0: trailers follow */
};

struct lgd_half {
	struct bufferevent *bev;
	enum lgd_half_state st;
	struct lg_http_parser parser;
	struct lg_http_body body;
	bool paused;             /* reading stopped because the other side's output is full */
	bool eof;                /* the client half-closed: complete requests in the input are
	                          * still answered, then the connection closes */
	struct lg_ws_tracker ws; /* frames this half sends, in a tunnel */
	bool ws_closing;         /* stop at the next frame boundary and send our Close frame */
	bool ws_close_sent;      /* our Close frame is queued; what this half sends is dropped */
};

struct lgd_upconn;
struct lgd_sse;

/* The current exchange as a lesson: an allowed request on a lesson route (lesson.c). */
struct lgd_lesson {
	bool active;      /* the gate allowed this exchange as a lesson */
	bool tunnel;      /* an open lesson tunnel: holds `lease` in the store */
	bool pending;     /* a lesson response began in this read: a tunnel if it outlives it */
	bool fired;       /* the deadline passed (monitor mode: reported, not closed) */
	bool end_pending; /* a response is being ended at the deadline: event not yet sent */
	enum lg_class cls;
	enum lg_rule rule; /* the rule that ends the tunnel at the deadline */
	uint32_t region;
	int64_t deadline; /* unix time; 0: none (a monitored violation) */
	int64_t start;    /* the lesson's start, from the decision */
	int64_t since;    /* the decision's second, activity recorded until then; 0: none */
	struct lg_lease lease;
	size_t student_len;
	char student[LG_JWT_STUDENT_MAX + 1];
	char path[128]; /* the normalised path, for events (truncated) */
	char hdr[160];  /* Lessongate-* response fields */
	size_t hdr_len;
};

/* Where a request goes upstream: the gate's target and a header to leave out. */
struct lgd_fwd {
	const char *target;
	size_t target_len;
	uint64_t strip[(LGD_MAX_HEADERS + 63) / 64]; /* bit i: client field i is not forwarded */
	const char *student; /* the verified student for identity.forward_header, or NULL */
	size_t student_len;
};

struct lgd_conn {
	TAILQ_ENTRY(lgd_conn) link;
	struct lgd_worker *w;
	struct lgd_runtime *rt;          /* the current exchange's configuration */
	const struct lg_listen_conf *lc; /* this listener's settings in rt */
	enum lgd_conn_state state;
	struct lgd_half down; /* the client */
	struct lgd_half up;   /* the upstream */
	struct lgd_upconn *upc;
	struct event *timer;    /* head, idle, connect and linger deadlines (lgd_conn_timer) */
	int64_t timer_due;      /* monotonic us of the deadline lgd_conn_timer set; 0: none */
	int64_t timer_at;       /* monotonic us `timer` is pending for; 0: not pending */
	struct event *deadline; /* lesson deadline / test hook */
	char *retry; /* the head sent on a reused upstream connection (retry_len bytes) */
	size_t retry_len, retry_cap;
	char peer[INET6_ADDRSTRLEN];
	struct sockaddr_storage peer_sa;
	bool addr_counted; /* counted in limits.max_connections_per_address */
	bool tls;
	uint64_t requests;
	/* DECIDE: the pending decision's handle (lgd_worker.pending), its clock, and the answer. */
	uint64_t decide_tag;
	int64_t decide_now;
	int64_t decide_asked_us; /* lgd_mono_us() when an asynchronous store was asked */
	uint8_t decided;         /* LGD_DECIDED_* */
	bool audit_wait;         /* DECIDE waits for the audit writer, not the store */
	struct lg_store_result answer;
	/* The current exchange. */
	enum lg_http_method method;
	bool req_keep_alive;
	bool req_websocket;
	bool req_http10;
	bool close_after; /* close the client once this response is out */
	bool res_started; /* response bytes went to the client: no error page now */
	bool res_keep_alive;
	bool dechunk; /* HTTP/1.0 client: forward the payload of a chunked response */
	bool res_chunked;
	bool ending;       /* end the streamed response at the next chunk boundary */
	bool reused;       /* upstream came from the pool */
	bool parked;       /* upc is clean: releasing it returns it to the pool */
	bool lingering;    /* CLOSING: output flushed, waiting for the client's EOF */
	bool body_timeout; /* the client's read timeout is set (request body) */
	bool head_begun;   /* bytes of the current request head were parsed (runtime fixed) */
	struct lgd_chunk_track ct;
	/* Request body pace (timeouts.body_min_rate, body_total), on the monotonic clock. */
	struct event *body_timer;
	int64_t body_start_us;  /* the body began; moved on by the time the client was paused */
	int64_t body_paused_us; /* reading the client stopped for the upstream's sake, or 0 */
	uint64_t body_bytes;
	/* Test hook (Lessongate-Test-Close): close the tunnel or end the stream later. */
	int64_t hook_ms;
	uint16_t hook_code;
	char hook_reason[64];
	/* Lesson enforcement: the exchange's lesson, its deadline or status-stream timer. */
	struct lgd_lesson lesson;
	struct event *lesson_timer;
	struct lgd_sse *sse;
	/* A Content-Length body moving by splice(2) (splice.c). */
	struct lgd_splice splice;
	/* Proxy-initiated WebSocket close. */
	uint16_t close_code;
	char close_reason[LG_WS_CLOSE_REASON_MAX + 1];
};

/* A new client socket accepted on listener index li of w's runtime. */
void lgd_conn_accept(struct lgd_worker *w, size_t li, int fd, struct sockaddr *sa, socklen_t salen);
/* The one way a connection ends: log why, release both halves, free later. */
void lgd_conn_close(struct lgd_conn *c, const char *reason);
/* Move to a new state, logging the transition at debug level. */
void lgd_conn_set_state(struct lgd_conn *c, enum lgd_conn_state st);
/* Shutdown: idle connections close now, busy ones after their current response. */
void lgd_conn_drain_all(struct lgd_worker *w);
/* Close every connection of a worker now. */
void lgd_conn_close_all(struct lgd_worker *w, const char *reason);
/* Close a WebSocket tunnel at frame boundaries with a Close frame to both sides; -1 if none. */
int lgd_conn_close_tunnel(struct lgd_conn *c, uint16_t code, const char *reason);
/*
 * End a streamed response: a chunked one gets its last-chunk at the next chunk
 * boundary (closed if none comes within LGD_END_STREAM_GRACE_MS), anything
 * else is closed after what was queued; -1 if no response body is flowing.
 */
int lgd_conn_end_stream(struct lgd_conn *c, const char *reason);

/* conn.c, for proxy.c and tunnel.c */
void lgd_conn_timer(struct lgd_conn *c, int64_t ms);
void lgd_conn_error(struct lgd_conn *c, int status, const char *reason);
void lgd_conn_pause(struct lgd_conn *c, struct lgd_half *src);
void lgd_conn_update_read(struct lgd_conn *c, struct lgd_half *h);
void lgd_conn_closing(struct lgd_conn *c, const char *reason);
void lgd_conn_arm_hook(struct lgd_conn *c);

int lgd_conn_adopt_runtime(struct lgd_conn *c);
void lgd_conn_attach_upstream(struct lgd_conn *c, struct lgd_upconn *u);
void lgd_conn_release_upstream(struct lgd_conn *c);
void lgd_conn_flush(struct lgd_conn *c);

/* proxy.c: the HTTP exchange */
void lgd_proxy_begin(struct lgd_conn *c);
void lgd_proxy_read_head(struct lgd_conn *c);
void lgd_proxy_request_body(struct lgd_conn *c);
void lgd_proxy_response(struct lgd_conn *c);
void lgd_proxy_upstream_event(struct lgd_conn *c, short what);
void lgd_proxy_upstream_connected(struct lgd_conn *c);
void lgd_proxy_response_done(struct lgd_conn *c);
void lgd_proxy_answered(struct lgd_conn *c, size_t head_len, bool keep, const char *reason);
void lgd_proxy_resume(struct lgd_conn *c);
void lgd_proxy_body_passed(struct lgd_conn *c, struct lgd_half *src);

/* lesson.c: the gate per request, lesson tunnels and their deadlines */
/* What a connection in DECIDE got: nothing yet, the store's answer, or the store's timeout. */
#define LGD_DECIDED_NONE    0
#define LGD_DECIDED_ANSWER  1
#define LGD_DECIDED_TIMEOUT 2
/* ... or (audit log, enforce mode) a refusal's record durable, or lost / not in time. */
#define LGD_DECIDED_AUDITED   3
#define LGD_DECIDED_AUDIT_BAD 4
/* lgd_lesson_request: the head waits for the store's decision (state DECIDE). */
#define LGD_LESSON_WAIT 2
int lgd_lesson_request(struct lgd_conn *c, const struct lg_http_request *req, size_t head_len,
                       struct lgd_fwd *fwd);
void lgd_lesson_decide_timeout(struct lgd_conn *c);
void lgd_lesson_audited(struct lgd_worker *w, uint64_t tag, bool ok);
void lgd_lesson_forget_decision(struct lgd_conn *c);
void lgd_lesson_decided(void *arg, uint64_t tag, const struct lg_store_result *r);
void lgd_lesson_renew(struct lgd_worker *w);
void lgd_lesson_response(struct lgd_conn *c, const struct lg_http_response *res,
                         const struct lg_http_header *h, size_t n);
void lgd_lesson_finish(struct lgd_conn *c);
void lgd_lesson_outlived(struct lgd_conn *c);
void lgd_lesson_ended(struct lgd_conn *c, bool at_boundary);
bool lgd_lesson_keep_alive(const struct lgd_conn *c, const struct lg_http_request *req);
void lgd_lesson_timer_init(struct lgd_conn *c);
void lgd_lesson_timer(struct lgd_conn *c, int64_t at_us);
void lgd_lesson_clock_check(struct lgd_worker *w);
enum lg_rule lgd_deadline_rule(const struct lg_config *cf, enum lg_class cls, int64_t start,
                               int64_t deadline);
int64_t lgd_now_us(void);
/* The wall clock lgd_now_us() reads; the connection harness points it at a fake clock. */
extern int64_t (*lgd_clock_us)(void);

/* status.c: /.well-known/lessongate/status and its event stream */
void lgd_status_answer(struct lgd_conn *c, const struct lg_gate_request *gr, size_t head_len,
                       int64_t now);
void lgd_status_tick(struct lgd_conn *c);
void lgd_status_end(struct lgd_conn *c);

/* calfeed.c: /.well-known/lessongate/calendar.ics, the calendar as an iCalendar feed */
void lgd_calfeed_answer(struct lgd_conn *c, const struct lg_gate_request *gr, size_t head_len,
                        int64_t now);

/* head.c: building heads */
void lgd_head_request(struct lgd_conn *c, const struct lg_http_request *req,
                      const struct lg_http_header *h, size_t n, size_t head_len,
                      const struct lgd_fwd *fwd, struct evbuffer *out);
void lgd_head_response(struct lgd_conn *c, const struct lg_http_response *res,
                       const struct lg_http_header *h, size_t n, size_t head_len,
                       struct evbuffer *out);
void lgd_head_error(struct evbuffer *out, int status, const char *reason);
const char *lgd_status_text(int status);

/* tunnel.c: WebSocket tunnels */
void lgd_tunnel_start(struct lgd_conn *c);
void lgd_tunnel_forward(struct lgd_conn *c, struct lgd_half *src, struct lgd_half *dst);
void lgd_tunnel_flushed(struct lgd_conn *c);

#endif
