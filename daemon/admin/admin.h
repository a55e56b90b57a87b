/*
 * The admin listener (admin.listen): /metrics, /admin/v1/status, /students/{id},
 * /overview and POST /admin/v1/reload, on its own thread (httpsrv.c). Off
 * unless configured. A reload that changes its (resolved) address starts the
 * new listener first and retires the old one without waiting for it (it
 * answers what it has, then its thread ends and is joined later); a reload
 * that keeps the address keeps the listening socket and only swaps its TLS
 * context (certificate files are read again at every reload).
 */
#ifndef LGD_ADMIN_H
#define LGD_ADMIN_H

#include <stddef.h>

#include "runtime.h"

struct event_base;

/*
 * The main thread's reload (the same as SIGHUP), run on base when POST
 * /admin/v1/reload asks: 0 with the new generation, or -1 with every error.
 */
typedef int (*lgd_admin_reload_fn)(struct lg_errors *errs, unsigned *generation);

/* At start: the process's start time, its workers, and how the main thread reloads. */
void lgd_admin_init(struct event_base *main_base, lgd_admin_reload_fn reload, int workers,
                    int64_t start_time);
/*
 * Before a runtime is put in force (at start and at each reload): start the
 * listener it configures if its address differs from the running one's, else
 * load its TLS context for the running one (at start, the
 * runtime is taken first, so no request finds none); 0, or -1 with the reason
 * in err (nothing changed then). Nothing may fail between this and the commit.
 */
int lgd_admin_prepare(struct lgd_runtime *rt, char *err, size_t errlen);
/* rt is in force: the admin API answers with it (and the listener prepared for it). */
void lgd_admin_commit(struct lgd_runtime *rt);
/* At exit: stop the listener (a reload waiting for the main thread is answered 503). */
void lgd_admin_stop(void);

#endif
