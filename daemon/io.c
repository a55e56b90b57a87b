/*
 * The read path of plain-socket bufferevents. libevent's own (evbuffer_read)
 * asks the kernel with ioctl(FIONREAD) how much is queued before every readv
 * and reads at most 4 KiB at a time; here the bufferevent's read event calls
 * io_read_cb instead, which does one recv of up to LGD_IO_CHUNK into a
 * per-thread buffer and appends what came to the input, so a request costs
 * one system call and the input's chain is sized by the bytes that arrived.
 * Enabling, disabling, timeouts and the read high watermark stay libevent's:
 * only the event's callback is replaced.
 */
#include "io.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <stdbool.h>
#include <sys/socket.h>

/* One per event-loop thread: what a recv brings before it is appended to an input. */
static _Thread_local unsigned char scratch[LGD_IO_CHUNK];

/* Tell the bufferevent's owner about EOF, an error or a read timeout (libevent's semantics). */
static void
io_read_event(struct bufferevent *bev, short what)
{
	bufferevent_event_cb ecb;
	void *arg;
	int err = errno;

	bufferevent_getcb(bev, NULL, NULL, &ecb, &arg);
	bufferevent_disable(bev, EV_READ);
	errno = err;
	if (ecb)
		ecb(bev, BEV_EVENT_READING | what, arg);
}

/* The bufferevent's read event: one recv, append, then the read callback. */
static void
io_read_cb(evutil_socket_t fd, short what, void *p)
{
	struct bufferevent *bev = p;
	struct evbuffer *in = bufferevent_get_input(bev);
	bufferevent_data_cb rcb;
	void *arg;
	size_t low = 0, high = 0, len = evbuffer_get_length(in), want = sizeof(scratch);
	ssize_t n;

	if (what == EV_TIMEOUT) {
		io_read_event(bev, BEV_EVENT_TIMEOUT);
		return;
	}
	bufferevent_getwatermark(bev, EV_READ, &low, &high);
	if (high) {
		if (len >= high) {
			/* Setting the same watermark again suspends reading until it drains. */
			bufferevent_setwatermark(bev, EV_READ, low, high);
			return;
		}
		if (high - len < want)
			want = high - len;
	}
	n = recv(fd, scratch, want, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		if (errno == ECONNREFUSED)
			return; /* a failed connect: the write event reports it, as libevent does */
		io_read_event(bev, BEV_EVENT_ERROR);
		return;
	}
	if (n == 0) {
		io_read_event(bev, BEV_EVENT_EOF);
		return;
	}
	/* Socket bufferevents freeze the input's end outside their own reads. */
	evbuffer_unfreeze(in, 0);
	evbuffer_add(in, scratch, (size_t)n);
	evbuffer_freeze(in, 0);
	bufferevent_getcb(bev, &rcb, NULL, NULL, &arg);
	if (rcb && (bufferevent_get_enabled(bev) & EV_READ) && evbuffer_get_length(in) >= low)
		rcb(bev, arg);
}

/* Let a bufferevent move large bodies in large writes, and read a plain one with our reader. */
void
lgd_bev_tune(struct bufferevent *bev)
{
	evutil_socket_t fd;
	bool reading;

	if (bev == NULL)
		return;
	bufferevent_set_max_single_read(bev, LGD_IO_CHUNK);
	bufferevent_set_max_single_write(bev, LGD_IO_CHUNK);
	fd = bufferevent_getfd(bev);
	if (fd < 0 || bufferevent_openssl_get_ssl(bev) != NULL)
		return;
	reading = bufferevent_get_enabled(bev) & EV_READ;
	if (reading)
		bufferevent_disable(bev, EV_READ);
	/* The flags libevent's socket bufferevent gives its read event (be_socket_setfd). */
	event_assign(&bev->ev_read, bev->ev_base, fd, EV_READ | EV_PERSIST | EV_FINALIZE,
	             io_read_cb, bev);
	if (reading)
		bufferevent_enable(bev, EV_READ);
}
