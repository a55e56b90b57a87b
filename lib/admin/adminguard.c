/* The admin API's request guard: the Host (DNS rebinding) and a POST's Origin (cross-site). */
#include "adminguard.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* Split a Host value or a listen address into its host (out, len bytes) and check the port is
 * absent (if may_omit) or digits; -1 if malformed. Brackets of an IPv6 host are kept. */
static int
host_part(const char *v, char *out, size_t len, bool may_omit)
{
	const char *end, *port;
	size_t n;

	if (v[0] == '[') {
		if ((end = strchr(v, ']')) == NULL)
			return -1;
		end++;
	} else {
		end = strrchr(v, ':');
		if (end == NULL)
			end = v + strlen(v);
	}
	port = end;
	if (*port == '\0' && !may_omit)
		return -1;
	if (*port != '\0') {
		if (*port++ != ':' || *port == '\0')
			return -1;
		for (; *port; port++)
			if (*port < '0' || *port > '9')
				return -1;
	}
	n = (size_t)(end - v);
	if (n == 0 || n >= len)
		return -1;
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

/* Whether h (a host part, IPv6 in brackets) is an IP literal. */
static bool
ip_literal(const char *h)
{
	unsigned char a[16];
	char v6[64];
	size_t n = strlen(h);

	if (h[0] == '[') {
		if (n < 3 || n - 2 >= sizeof(v6) || h[n - 1] != ']')
			return false;
		memcpy(v6, h + 1, n - 2);
		v6[n - 2] = '\0';
		return inet_pton(AF_INET6, v6, a) == 1;
	}
	return inet_pton(AF_INET, h, a) == 1;
}

/* Whether a Host field value may reach the admin listener at listen_address. */
bool
lg_admin_host_ok(const char *host, const char *listen_address)
{
	char h[256], own[256];

	if (host == NULL || host_part(host, h, sizeof(h), true) != 0)
		return false;
	if (strcasecmp(h, "localhost") == 0 || ip_literal(h))
		return true;
	return listen_address && host_part(listen_address, own, sizeof(own), false) == 0 &&
	       strcasecmp(h, own) == 0;
}

/* Whether a POST may run with this Origin value: none, or exactly the request's own origin. */
bool
lg_admin_origin_ok(const char *origin, const char *host, bool tls)
{
	const char *scheme = tls ? "https://" : "http://";
	size_t sl = strlen(scheme);

	if (origin == NULL)
		return true;
	return host != NULL && strncasecmp(origin, scheme, sl) == 0 &&
	       strcasecmp(origin + sl, host) == 0;
}
