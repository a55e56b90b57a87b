/* OpenSSL contexts for listeners (TLS 1.2/1.3, ALPN http/1.1, SNI) and for the upstream. */
#ifndef LGD_TLS_H
#define LGD_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "config.h"

/* A server context for a TLS listener; NULL with errors appended to errs. */
SSL_CTX *lgd_tls_server_ctx(const struct lg_config *cf, const struct lg_listen_conf *l,
                            struct lg_errors *errs);
/* A client context for the upstream (verification against ca or the system store). */
SSL_CTX *lgd_tls_client_ctx(const struct lg_config *cf, struct lg_errors *errs);
/* Free a context made above, with the SNI contexts it owns. */
void lgd_tls_ctx_free(SSL_CTX *ctx);

#endif
