/*
 * Refusals that wait for their audit record: the writer thread's done
 * callback puts the connection's tag into its worker's mailbox and wakes the
 * worker through a pipe; the worker resumes the connection (lesson.c) from
 * its own loop. A mailbox lives as long as the process (the writer may answer
 * after its worker stopped: the answer is then dropped).
 */
#include "auditwait.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "conn.h"
#include "util.h"
#include "worker.h"

/* A worker's mailbox of answered tags. */
struct lgd_auditmb {
	pthread_mutex_t lock;
	struct lgd_worker *w; /* NULL once the worker stopped */
	int pipe[2];
	struct event *ev;
	uint64_t *tags;
	bool *oks;
	size_t n, cap;
};

/* What the done callback needs: the mailbox and the tag. */
struct waiter {
	struct lgd_auditmb *mb;
	uint64_t tag;
};

/* Mailboxes by worker id (kept for the whole process). */
static struct lgd_auditmb *mailboxes[1024];

/* The commit under way on this thread. */
static _Thread_local struct {
	struct lgd_auditmb *mb;
	uint64_t tag;
	bool active, submitted;
} cur;

/* The mailbox's pipe is readable: resume each answered connection. */
static void
mailbox_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_auditmb *mb = arg;
	char b[256];
	uint64_t *tags;
	bool *oks;
	size_t n;

	while (read(fd, b, sizeof(b)) > 0)
		;
	pthread_mutex_lock(&mb->lock);
	tags = mb->tags;
	oks = mb->oks;
	n = mb->n;
	mb->tags = NULL;
	mb->oks = NULL;
	mb->n = mb->cap = 0;
	pthread_mutex_unlock(&mb->lock);
	for (size_t i = 0; i < n; i++)
		lgd_lesson_audited(mb->w, tags[i], oks[i]);
	free(tags);
	free(oks);
}

/* The worker's mailbox, made on first use (on the worker's thread). */
static struct lgd_auditmb *
mailbox(struct lgd_worker *w)
{
	struct lgd_auditmb *mb;

	if (w->id < 0 || w->id >= (int)(sizeof(mailboxes) / sizeof(mailboxes[0])))
		return NULL;
	if ((mb = mailboxes[w->id]) != NULL && mb->w == w)
		return mb;
	mb = lg_xcalloc(1, sizeof(*mb));
	if (pipe2(mb->pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		free(mb);
		return NULL;
	}
	pthread_mutex_init(&mb->lock, NULL);
	mb->w = w;
	mb->ev = event_new(w->base, mb->pipe[0], EV_READ | EV_PERSIST, mailbox_cb, mb);
	event_add(mb->ev, NULL);
	mailboxes[w->id] = mb; /* an earlier one (a worker that stopped) stays allocated */
	return mb;
}

/* Begin a commit whose enforced deny record is awaited under tag. */
void
lgd_auditwait_begin(struct lgd_worker *w, uint64_t tag)
{
	cur.mb = mailbox(w);
	cur.tag = tag;
	cur.active = cur.mb != NULL;
	cur.submitted = false;
}

/* End the commit: whether a record is awaited. */
bool
lgd_auditwait_end(void)
{
	bool s = cur.active && cur.submitted;

	cur.active = false;
	return s;
}

/* The writer's verdict on one record: into the mailbox, and wake the worker. */
static void
done(void *arg, bool ok)
{
	struct waiter *wt = arg;
	struct lgd_auditmb *mb = wt->mb;

	pthread_mutex_lock(&mb->lock);
	if (mb->w != NULL) {
		if (mb->n == mb->cap) {
			mb->cap = mb->cap ? 2 * mb->cap : 16;
			mb->tags = lg_xrealloc(mb->tags, mb->cap, sizeof(*mb->tags));
			mb->oks = lg_xrealloc(mb->oks, mb->cap, sizeof(*mb->oks));
		}
		mb->tags[mb->n] = wt->tag;
		mb->oks[mb->n++] = ok;
		if (mb->n == 1 && write(mb->pipe[1], "", 1) < 0 && errno != EAGAIN)
			(void)0; /* a full pipe already wakes the worker */
	}
	pthread_mutex_unlock(&mb->lock);
	free(wt);
}

/* For the sink: a done callback when the current commit's deny is awaited. */
bool
lgd_auditwait_want(void (**fn)(void *, bool), void **arg)
{
	struct waiter *wt;

	if (!cur.active || cur.submitted)
		return false;
	wt = lg_xcalloc(1, sizeof(*wt));
	wt->mb = cur.mb;
	wt->tag = cur.tag;
	cur.submitted = true;
	*fn = done;
	*arg = wt;
	return true;
}

/* The worker stops: later answers are dropped. */
void
lgd_auditwait_close(struct lgd_worker *w)
{
	struct lgd_auditmb *mb;

	if (w->id < 0 || w->id >= (int)(sizeof(mailboxes) / sizeof(mailboxes[0])) ||
	    (mb = mailboxes[w->id]) == NULL || mb->w != w)
		return;
	pthread_mutex_lock(&mb->lock);
	mb->w = NULL;
	event_free(mb->ev);
	mb->ev = NULL;
	free(mb->tags);
	free(mb->oks);
	mb->tags = NULL;
	mb->oks = NULL;
	mb->n = mb->cap = 0;
	pthread_mutex_unlock(&mb->lock);
}
