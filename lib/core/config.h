/* lessongate.conf: loaded whole, validated, then used read-only. */
#ifndef LG_CONFIG_H
#define LG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "policy.h"
#include "tz.h"
#include "util.h"

#define LG_METHOD_ANY 0u

struct lg_route {
	char *path;  /* normalised prefix or exact path */
	size_t len;  /* strlen(path), so classifying does not measure it again */
	char *canon; /* its canonical form (lg_path_canonical), matched against canonical paths */
	size_t canon_len;
	bool exact; /* `path = ...` instead of `prefix = ...` */
	enum lg_class cls;
	char **methods; /* NULL: every method; compared ignoring case, HEAD matches GET */
	size_t nmethods;
	int line;
};

/* One more certificate chain and key of a TLS listener, chosen by SNI. */
struct lg_cert_conf {
	char *certificate;
	char *key;
	int line;
};

struct lg_tls_conf {
	char *certificate;
	char *key;
	char *client_ca; /* regulator listener: required client certificates */
	char *ca;        /* upstream: CA file to verify the upstream against */
	char *server_name;
	bool verify;
	struct lg_cert_conf *sni; /* listeners: extra certificates, matched against the SNI name */
	size_t nsni;
};

struct lg_listen_conf {
	char *address; /* "host:port" or "[v6]:port" */
	bool tls;
	struct lg_tls_conf tlsc;
	bool test_hooks; /* accept the Lessongate-Test-Close request header (tests only) */
	int line;
};

struct lg_upstream_conf {
	char *address;
	bool tls;
	struct lg_tls_conf tlsc;
	int keepalive;
	int64_t connect_timeout_ms;
	int64_t response_timeout_ms;
	char **strip_request_headers; /* client fields never forwarded (rewrite/override headers) */
	size_t nstrip_request_headers;
};

struct lg_timeouts_conf {
	int64_t client_header_ms;
	int64_t keepalive_ms;
	int64_t body_ms;
	int64_t drain_ms;
	int64_t
	    body_min_rate; /* request body bytes a second after an allowance of body_ms; 0: off */
	int64_t body_total_ms; /* a whole request body; 0: no bound */
};

struct lg_limits_conf {
	int64_t max_connections;
	int64_t max_header_bytes;
	int64_t max_body_bytes;
	int64_t max_connections_per_address;   /* process-wide; 0: unlimited */
	int64_t max_event_streams_per_student; /* status event streams; 0: unlimited */
};

struct lg_jwt_conf {
	char *keys;
	char **algorithms;
	size_t nalgorithms;
	char **sources;
	size_t nsources;
	char *student_claim;
	char *region_claim;
	int64_t leeway_s;
	char *issuer;
	char *audience;
};

struct lg_identity_conf {
	bool jwt_enabled;
	struct lg_jwt_conf jwt;
	bool header_enabled;
	char *header_name;
	char **trusted_peers;
	size_t ntrusted_peers;
	char *forward_header; /* the verified student, told to the origin; client copies removed */
	char *login_url;      /* the platform's sign-in, linked from the 401 page; NULL: none */
};

/* Where the local store keeps the students' clocks unless state.dir says otherwise. */
#define LG_STATE_DIR_DEFAULT "/var/lib/lessongate/state"

struct lg_state_conf {
	char *store;         /* "local" (the default), "memory" or "redis" */
	char *dir;           /* local: an absolute path (default LG_STATE_DIR_DEFAULT) */
	char *redis_address; /* "host:port", "[v6]:port" or "unix:/path" */
	int64_t redis_timeout_ms;
	char *redis_on_failure; /* "closed" (503) or "local" (decide on a local copy) */
	char *redis_password, *redis_username; /* AUTH [username] password, or NULL */
	int64_t redis_database;                /* SELECT n (0: none) */
	char *redis_prefix;                    /* key prefix (default "lessongate:") */
	char *redis_sentinel_master;           /* Sentinel: the master's name (else NULL) */
	char **redis_sentinels;                /* ... and the sentinels' "host:port" */
	size_t redis_nsentinels;
};

struct lg_audit_conf {
	bool enabled; /* an audit section: the daemon writes the regulators' log */
	char *dir;    /* resolved path */
	char *signing_key;
	char *pseudonym_key;
	char *name;        /* checkpoint origin and signing key name (default: instance) */
	char *signing_pem; /* the signing key file's content, checked as Ed25519 */
	size_t signing_pem_len;
	uint8_t pseudonym[32]; /* the pseudonym key */
	bool listen_enabled;
	struct lg_listen_conf listen;
};

/* The admin listener (metrics, status, students, reload); off unless configured. */
struct lg_admin_conf {
	bool enabled;
	struct lg_listen_conf
	    listen; /* TLS optional; tlsc.client_ca: client certificates required */
};

struct lg_config {
	char *file;
	char *instance;
	char *timezone;
	struct lg_tz *tz;
	int workers;
	struct lg_listen_conf *listen;
	size_t nlisten;
	struct lg_upstream_conf upstream;
	struct lg_timeouts_conf timeouts;
	struct lg_limits_conf limits;
	struct lg_identity_conf identity;
	struct lg_route *routes;
	size_t nroutes;
	struct lg_rules rules;
	char *regulation_url;
	char **calendar_files; /* resolved paths */
	size_t ncalendar_files;
	struct lg_calendar_opts calendar_opts;
	struct lg_calendar *calendar;
	struct lg_state_conf state;
	struct lg_audit_conf audit;
	struct lg_admin_conf admin;
	struct lg_policy *policy;
	struct lg_errors warnings; /* legal but weaker than the regulation, etc. */
};

/*
 * Load and validate a configuration file and every calendar it names.
 * NULL if anything is wrong; every error is appended to errs as
 * "file:line: message". Nothing is shared with any other config, so a
 * failed reload leaves the running one untouched.
 */
struct lg_config *lg_config_load(const char *path, struct lg_errors *errs);
/* The embedded defaults (what `scripts/run` starts with when no file is given). */
struct lg_config *lg_config_load_string(const char *text, const char *name, const char *basedir,
                                        struct lg_errors *errs);
void lg_config_free(struct lg_config *);

/* The first route a normalised path (without its query) matches, any method; NULL if free. */
const struct lg_route *lg_config_route(const struct lg_config *, const char *path, size_t len);
/*
 * The class of a normalised path (and method; NULL matches any); LG_CLASS_FREE
 * if no route. First match wins; a prefix "/x/" also matches "/x", an exact
 * path also matches with or without one trailing "/"; methods are compared
 * ignoring case, and a route for GET also takes HEAD.
 */
enum lg_class lg_config_classify(const struct lg_config *, const char *path, size_t len,
                                 const char *method);
/* The same, for a canonical path (lg_path_canonical) against the routes' canonical forms. */
enum lg_class lg_config_classify_canonical(const struct lg_config *, const char *canon, size_t len,
                                           const char *method);

#endif
