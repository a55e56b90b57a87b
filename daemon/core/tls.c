/* OpenSSL contexts for listeners (TLS 1.2/1.3, ALPN http/1.1, SNI) and for the upstream. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The SNI alternatives of a listener context, kept in its ex_data. */
struct sni_list {
	SSL_CTX **ctx;
	size_t n;
};

static int sni_index = -1;
static pthread_once_t sni_once = PTHREAD_ONCE_INIT;

/* Allocate the ex_data slot once per process. */
static void
sni_index_init(void)
{
	sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* The last OpenSSL error as text. */
static const char *
ssl_errstr(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* Pick http/1.1 if the client offers ALPN; no overlap means no ALPN, not a failure. */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";

	if (SSL_select_next_proto((unsigned char **)out, outlen, h11, sizeof(h11) - 1, in, inlen) ==
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;
	return SSL_TLSEXT_ERR_NOACK;
}

/* Switch to the SNI certificate whose names match the requested server name. */
static int
sni_select(SSL *ssl, int *alert, void *arg)
{
	struct sni_list *l = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (name == NULL || l == NULL)
		return SSL_TLSEXT_ERR_OK;
	for (size_t i = 0; i < l->n; i++) {
		X509 *x = SSL_CTX_get0_certificate(l->ctx[i]);
		if (x && X509_check_host(x, name, strlen(name), 0, NULL) == 1) {
			SSL_set_SSL_CTX(ssl, l->ctx[i]);
			break;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

/* A bare server context with one certificate chain and key. */
static SSL_CTX *
server_ctx_one(const char *file, int line, const char *where, const char *cert, const char *key,
               struct lg_errors *errs)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char e[256];

	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	                             SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		lg_errors_add(errs, file, line, "%s.certificate: cannot load \"%s\": %s", where,
		              cert, ssl_errstr(e, sizeof(e)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		lg_errors_add(errs, file, line, "%s.key: cannot load \"%s\": %s", where, key,
		              ssl_errstr(e, sizeof(e)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		lg_errors_add(errs, file, line,
		              "%s.key: \"%s\" does not match the certificate \"%s\"", where, key,
		              cert);
		goto fail;
	}
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* A server context for a TLS listener; NULL with errors appended to errs. */
SSL_CTX *
lgd_tls_server_ctx(const struct lg_config *cf, const struct lg_listen_conf *l,
                   struct lg_errors *errs)
{
	struct sni_list *sl;
	SSL_CTX *ctx;
	bool ok = true;

	pthread_once(&sni_once, sni_index_init);
	ctx = server_ctx_one(cf->file, l->line, "tls", l->tlsc.certificate, l->tlsc.key, errs);
	sl = lg_xcalloc(1, sizeof(*sl));
	sl->ctx = lg_xcalloc(l->tlsc.nsni + 1, sizeof(*sl->ctx));
	for (size_t i = 0; i < l->tlsc.nsni; i++) {
		const struct lg_cert_conf *c = &l->tlsc.sni[i];
		SSL_CTX *s =
		    server_ctx_one(cf->file, c->line, "tls.sni", c->certificate, c->key, errs);
		if (s == NULL)
			ok = false;
		else
			sl->ctx[sl->n++] = s;
	}
	if (ctx == NULL || !ok) {
		for (size_t i = 0; i < sl->n; i++)
			SSL_CTX_free(sl->ctx[i]);
		free(sl->ctx);
		free(sl);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_ex_data(ctx, sni_index, sl);
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_select);
	SSL_CTX_set_tlsext_servername_arg(ctx, sl);
	return ctx;
}

/* A client context for the upstream (verification against ca or the system store). */
SSL_CTX *
lgd_tls_client_ctx(const struct lg_config *cf, struct lg_errors *errs)
{
	const struct lg_tls_conf *t = &cf->upstream.tlsc;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char e[256];

	pthread_once(&sni_once, sni_index_init);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
	if (t->verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (t->ca ? SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1
		          : SSL_CTX_set_default_verify_paths(ctx) != 1) {
			lg_errors_add(errs, cf->file, 0, "upstream.tls.ca: cannot load \"%s\": %s",
			              t->ca ? t->ca : "(system store)", ssl_errstr(e, sizeof(e)));
			goto fail;
		}
	}
	if (t->certificate && SSL_CTX_use_certificate_chain_file(ctx, t->certificate) != 1) {
		lg_errors_add(errs, cf->file, 0, "upstream.tls.certificate: cannot load \"%s\": %s",
		              t->certificate, ssl_errstr(e, sizeof(e)));
		goto fail;
	}
	if (t->key && SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
		lg_errors_add(errs, cf->file, 0, "upstream.tls.key: cannot load \"%s\": %s", t->key,
		              ssl_errstr(e, sizeof(e)));
		goto fail;
	}
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* Free a context made above, with the SNI contexts it owns. */
void
lgd_tls_ctx_free(SSL_CTX *ctx)
{
	struct sni_list *sl;

	if (ctx == NULL)
		return;
	if (sni_index >= 0 && (sl = SSL_CTX_get_ex_data(ctx, sni_index)) != NULL) {
		for (size_t i = 0; i < sl->n; i++)
			SSL_CTX_free(sl->ctx[i]);
		free(sl->ctx);
		free(sl);
	}
	SSL_CTX_free(ctx);
}
