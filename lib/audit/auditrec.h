/* Audit records: canonical JSON per event, student pseudonyms, client prefixes, flood counting. */
#ifndef LG_AUDITREC_H
#define LG_AUDITREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy.h"
#include "render.h"
#include "tz.h"

enum lg_audit_type {
	LG_AUDIT_START = 0,
	LG_AUDIT_STOP,
	LG_AUDIT_CONFIG_LOADED,
	LG_AUDIT_LESSON_START,
	LG_AUDIT_LESSON_END,
	LG_AUDIT_DENY,
	LG_AUDIT_FORCED_CLOSE,
	LG_AUDIT_UNIDENTIFIED,
};

#define LG_PSEUDONYM_KEY 32
/* 128 bits as hex, and the NUL. */
#define LG_PSEUDONYM_HEX 33
/* "2001:db8:ffff::/48" and the like, with the NUL. */
#define LG_CLIENT_PREFIX_MAX 52

/* A file in force when a configuration was loaded, by its SHA-256. */
struct lg_audit_file_hash {
	const char *file;
	uint8_t sha256[32];
};

/*
 * One event as the daemon hands it over (strings are borrowed; ids and
 * paths are any bytes). Fields a type does not use are ignored.
 */
struct lg_audit_rec {
	enum lg_audit_type type;
	int64_t time;   /* unix seconds (a counted record: its first event) */
	int64_t last;   /* deny, unidentified: the last event counted (0: time) */
	uint64_t count; /* deny, unidentified: events this record stands for (0: 1) */
	const char *student;
	size_t student_len;        /* written only as its pseudonym; NULL: none */
	const char *pseudonym;     /* without student: its pseudonym, already made (or NULL) */
	uint32_t region;           /* GB/T 2260 code, 0 if unknown */
	int cls;                   /* enum lg_class, or -1 */
	const char *route;         /* the configured route (its prefix), not the path asked for */
	enum lg_rule rule;         /* deny, forced_close */
	bool enforced;             /* deny, forced_close: false in monitor mode */
	int status;                /* deny: the HTTP status sent (or that would have been) */
	int64_t start, end;        /* lesson_end: the lesson's first and last moments */
	const char *how;           /* forced_close: "websocket_close_4001", "stream_ended", ... */
	const char *reason;        /* unidentified: why ("missing token"); stop: why */
	const char *client;        /* unidentified: lg_audit_client_prefix() of the peer */
	const char *version;       /* start */
	enum lg_mode mode;         /* config_loaded */
	uint8_t config_sha256[32]; /* config_loaded */
	const struct lg_audit_file_hash *calendars;
	size_t ncalendars;
};

/* What every record of one log shares. */
struct lg_audit_ctx {
	const char *instance;
	const struct lg_tz *tz;
	uint8_t pseudonym_key[LG_PSEUDONYM_KEY];
};

const char *lg_audit_type_name(enum lg_audit_type);

/*
 * Append the canonical record for index: one JSON object on one line (no
 * newline appended), keys in a fixed order: index, type, time, instance,
 * then the type's own. Student ids appear only as pseudonyms.
 */
void lg_audit_format(struct lg_buf *, uint64_t index, const struct lg_audit_ctx *,
                     const struct lg_audit_rec *);

/* HMAC-SHA256(key, id) cut to 128 bits, as 32 lower-case hex digits. */
void lg_audit_pseudonym(const uint8_t key[LG_PSEUDONYM_KEY], const char *id, size_t n,
                        char out[LG_PSEUDONYM_HEX]);
/* A pseudonym key file's text: 64 hex digits, one optional newline. 0, or -1 with the reason. */
int lg_audit_pseudonym_key_parse(const char *text, size_t n, uint8_t key[LG_PSEUDONYM_KEY],
                                 char *err, size_t errlen);
/* A client address cut to its network: IPv4 /24, IPv6 /48 ("local" for anything else). */
void lg_audit_client_prefix(const struct sockaddr *, char out[LG_CLIENT_PREFIX_MAX]);

/* Where records the aggregator lets through, or sums up, go. */
typedef void (*lg_audit_emit_fn)(void *arg, const struct lg_audit_rec *);

/*
 * Flood counting. A deny repeated by the same student (same rule, class,
 * route, status, enforcement) or an unidentified request repeated by the
 * same client prefix (same route, class, reason) within `window` seconds of
 * the first is not written again: the first is written at once, the
 * repeats become one record with their count, first and last time when the
 * window closes. Every other type passes straight through. Nothing goes
 * uncounted: when `max` windows are open, a new kind is written at once.
 */
struct lg_audit_agg;

/* key: 16 random bytes for the table's hash (ids are chosen by clients). */
struct lg_audit_agg *lg_audit_agg_new(int64_t window, size_t max, const uint8_t key[16]);
void lg_audit_agg_free(struct lg_audit_agg *);
/* Offer one event (at rec->time): summaries of windows it closes first, then it, if it is new. */
void lg_audit_agg_add(struct lg_audit_agg *, const struct lg_audit_rec *, lg_audit_emit_fn,
                      void *arg);
/* Emit the summaries of windows closed by `now` (of all windows if all). */
void lg_audit_agg_flush(struct lg_audit_agg *, int64_t now, bool all, lg_audit_emit_fn, void *arg);
/* The number of open windows. */
size_t lg_audit_agg_open(const struct lg_audit_agg *);

#endif
