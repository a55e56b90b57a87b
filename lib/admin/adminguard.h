/*
 * Who may talk to the admin API, from the request's own fields (no I/O):
 * the Host a request names (against DNS rebinding) and the Origin of a
 * POST (against cross-site requests from a page the operator visits).
 */
#ifndef LG_ADMINGUARD_H
#define LG_ADMINGUARD_H

#include <stdbool.h>

/*
 * Whether a Host field value may reach the admin listener at listen_address
 * ("host:port"): its host is the listener's own host, "localhost", or an IP
 * literal (IPv4, or IPv6 in brackets), with an optional numeric port. A DNS
 * name that is not the listener's (a rebinding attacker's) is refused, and
 * so is a missing or malformed field.
 */
bool lg_admin_host_ok(const char *host, const char *listen_address);
/*
 * Whether a POST may run with this Origin field value: none at all
 * (lessongatectl, curl), or exactly the page's own origin, "http[s]://" +
 * the Host field the request names (already checked by lg_admin_host_ok).
 */
bool lg_admin_origin_ok(const char *origin, const char *host, bool tls);

#endif
