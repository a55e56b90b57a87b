/*
 * daemon/store/redis_ev.c: hiredis's asynchronous context on a libevent loop,
 * against a stand-in server on a unix socket that this test drives by hand
 * (it reads when the test says so and writes the replies), so a write the
 * kernel does not take at once can be forced: commands of one loop turn go
 * out together, a short write waits for EV_WRITE and finishes, and many
 * replies arriving at once are all read by the persistent read event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <signal.h>

#include "redis_ev.h"

struct fixture {
	char dir[64], path[80];
	int listener, server; /* the stand-in server's listening and accepted sockets */
	struct event_base *base;
	redisAsyncContext *ac;
	int replies, connected, disconnected;
};

/* A reply of the stand-in server reached its command's callback. */
static void
on_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct fixture *f = priv;
	redisReply *reply = r;

	(void)ac;
	if (reply != NULL && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0)
		f->replies++;
}

/* hiredis's connect callback. */
static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct fixture *f = ac->data;

	if (status == REDIS_OK)
		f->connected++;
}

/* hiredis's disconnect callback. */
static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct fixture *f = ac->data;

	(void)status;
	f->disconnected++;
}

/* Run the loop until cond holds (at most about two seconds). */
static void
run_until(struct fixture *f, int *what, int want)
{
	for (int i = 0; i < 2000 && *what < want; i++) {
		struct timeval tv = {0, 1000};
		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
}

/* A stand-in server, a loop and an attached, connected context. */
static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	const char *tmp = getenv("TMPDIR");
	if (tmp == NULL || strlen(tmp) > sizeof(f->dir) - 20) /* a socket path is short */
		tmp = "/tmp";
	snprintf(f->dir, sizeof(f->dir), "%s/lg-redis-ev-XXXXXX", tmp);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/s", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->listener = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f->listener >= 0);
	assert_int_equal(bind(f->listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listener, 1), 0);
	f->base = event_base_new();
	f->ac = redisAsyncConnectUnix(f->path);
	assert_non_null(f->ac);
	assert_int_equal(f->ac->err, 0);
	f->ac->data = f;
	assert_int_equal(lgd_redis_attach(f->ac, f->base), 0);
	assert_int_equal(lgd_redis_attach(f->ac, f->base), -1); /* once only */
	redisAsyncSetConnectCallback(f->ac, on_connect);
	redisAsyncSetDisconnectCallback(f->ac, on_disconnect);
	f->server = accept(f->listener, NULL, NULL);
	assert_true(f->server >= 0);
	run_until(f, &f->connected, 1);
	assert_int_equal(f->connected, 1);
	*state = f;
	return 0;
}

/* Close everything the fixture opened. */
static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f->ac != NULL)
		redisAsyncFree(f->ac);
	close(f->server);
	close(f->listener);
	event_base_free(f->base);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Read what the server has (nonblocking); the byte count. */
static size_t
server_drain(struct fixture *f)
{
	char buf[65536];
	size_t total = 0;
	ssize_t n;

	while ((n = recv(f->server, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	return total;
}

/* The length of "SET k <value of len bytes>" in the protocol. */
static size_t
set_len(size_t len)
{
	char head[64];

	return (size_t)snprintf(head, sizeof(head), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%zu\r\n", len) +
	       len + 2;
}

/* Commands of one loop turn reach the server together, after the turn, and are answered. */
static void
test_turn_written_at_its_end(void **state)
{
	struct fixture *f = *state;

	/* Connected: only the persistent read event is in the loop (no EV_WRITE). */
	assert_int_equal(event_base_get_num_events(f->base, EVENT_BASE_COUNT_ADDED), 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(redisAsyncCommand(f->ac, on_reply, f, "SET k %s", "v"), REDIS_OK);
	assert_int_equal(server_drain(f), 0); /* nothing written before the loop runs */
	/* Queued: the end-of-turn write is an active user event (counted as added too); no
	 * EV_WRITE (an epoll_ctl: hiredis's own adapter would have the read and the write event
	 * added and nothing active). */
	assert_int_equal(event_base_get_num_events(f->base, EVENT_BASE_COUNT_ADDED), 2);
	assert_int_equal(event_base_get_num_events(f->base, EVENT_BASE_COUNT_ACTIVE), 1);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(server_drain(f), 10 * set_len(1));
	for (int i = 0; i < 10; i++)
		assert_int_equal(send(f->server, "+OK\r\n", 5, 0), 5);
	run_until(f, &f->replies, 10);
	assert_int_equal(f->replies, 10);
}

/*
 * More than the socket takes at once: the rest waits for EV_WRITE and goes
 * out as the server reads; every byte arrives once, every reply is read.
 */
static void
test_short_write_finishes(void **state)
{
	struct fixture *f = *state;
	size_t vlen = 256 * 1024, want = 0, got = 0;
	int n = 40; /* 10 MiB: far more than a unix socket buffers */
	char *v = malloc(vlen);

	memset(v, 'x', vlen);
	for (int i = 0; i < n; i++) {
		assert_int_equal(redisAsyncCommand(f->ac, on_reply, f, "SET k %b", v, vlen),
		                 REDIS_OK);
		want += set_len(vlen);
	}
	free(v);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	got = server_drain(f);
	assert_true(got > 0 && got < want); /* the kernel took only part of it */
	for (int i = 0; i < 100000 && got < want; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		got += server_drain(f);
	}
	assert_int_equal(got, want);
	/* All the replies at once. */
	char *ok = malloc((size_t)n * 5);
	for (int i = 0; i < n; i++)
		memcpy(ok + i * 5, "+OK\r\n", 5);
	assert_int_equal(send(f->server, ok, (size_t)n * 5, 0), n * 5);
	free(ok);
	run_until(f, &f->replies, n);
	assert_int_equal(f->replies, n);
	assert_int_equal(f->disconnected, 0);
}

/* The server going away: pending commands are called back (NULL), the context is freed. */
static void
test_server_gone(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(redisAsyncCommand(f->ac, on_reply, f, "SET k %s", "v"), REDIS_OK);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	close(f->server);
	f->server = -1;
	run_until(f, &f->disconnected, 1);
	assert_int_equal(f->disconnected, 1);
	assert_int_equal(f->replies, 0);
	f->ac = NULL; /* hiredis freed it */
}

/* Set by on_reply_chain once it has queued its command. */
static int chained;

/* A reply callback that queues another command (the first time). */
static void
on_reply_chain(redisAsyncContext *ac, void *r, void *priv)
{
	struct fixture *f = priv;
	if (r != NULL && !chained) {
		chained = 1;
		assert_int_equal(redisAsyncCommand(ac, on_reply, f, "SET k %s", "w"), REDIS_OK);
	}
}

/* A command queued by a reply callback is written in the same loop turn as the reply is read. */
static void
test_chain_from_reply(void **state)
{
	struct fixture *f = *state;

	chained = 0;
	assert_int_equal(redisAsyncCommand(f->ac, on_reply_chain, f, "SET k %s", "v"), REDIS_OK);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(server_drain(f), set_len(1));
	assert_int_equal(send(f->server, "+OK\r\n", 5, 0), 5);
	/* one turn: the read event reads the reply, the callback queues, the flush writes */
	event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(chained, 1);
	assert_int_equal(server_drain(f), set_len(1));
}

/* Freed while its end-of-turn write is pending: nothing is written, nothing is left (ASan,
 * valgrind). */
static void
test_free_with_flush_active(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(redisAsyncCommand(f->ac, on_reply, f, "SET k %s", "v"), REDIS_OK);
	redisAsyncFree(f->ac);
	f->ac = NULL;
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(server_drain(f), 0);
	assert_int_equal(f->replies, 0);
	assert_int_equal(
	    event_base_get_num_events(f->base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE),
	    0);
}

/* A reply callback that disconnects. */
static void
on_reply_disc(redisAsyncContext *ac, void *r, void *priv)
{
	struct fixture *f = priv;
	(void)r;
	(void)f;
	redisAsyncDisconnect(ac);
}

/* Disconnecting from a reply callback: the command behind it is answered first, then the
 * disconnect callback runs. */
static void
test_disconnect_in_callback(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(redisAsyncCommand(f->ac, on_reply_disc, f, "SET k %s", "v"), REDIS_OK);
	assert_int_equal(redisAsyncCommand(f->ac, on_reply, f, "SET k %s", "v"), REDIS_OK);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(server_drain(f), 2 * set_len(1));
	assert_int_equal(send(f->server, "+OK\r\n+OK\r\n", 10, 0), 10);
	run_until(f, &f->disconnected, 1);
	assert_int_equal(f->disconnected, 1);
	assert_int_equal(f->replies, 1);
	f->ac = NULL;
}

/* Connect callbacks that reported a failure. */
static int refused_cb;

/* hiredis's connect callback for test_connect_refused. */
static void
on_connect_refused(const redisAsyncContext *ac, int status)
{
	(void)ac;
	if (status != REDIS_OK)
		refused_cb++;
}

/* A refused TCP connect is reported once through the events; nothing leaks. */
static void
test_connect_refused(void **state)
{
	struct event_base *base = event_base_new();
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	(void)state;
	bind(s, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(s, (struct sockaddr *)&sa, &sl);
	close(s); /* nobody listens on that port */
	redisAsyncContext *ac = redisAsyncConnect("127.0.0.1", ntohs(sa.sin_port));
	assert_non_null(ac);
	if (ac->err) {
		redisAsyncFree(ac);
		event_base_free(base);
		skip();
	}
	assert_int_equal(lgd_redis_attach(ac, base), 0);
	redisAsyncSetConnectCallback(ac, on_connect_refused);
	refused_cb = 0;
	assert_int_equal(redisAsyncCommand(ac, NULL, NULL, "PING"), REDIS_OK);
	for (int i = 0; i < 200 && refused_cb == 0; i++) {
		struct timeval tv = {0, 1000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	assert_int_equal(refused_cb, 1);
	event_base_free(base);
}

/* The server goes away while a short write waits for EV_WRITE: disconnected, nothing leaks. */
static void
test_gone_during_short_write(void **state)
{
	struct fixture *f = *state;
	size_t vlen = 1024 * 1024;
	char *v = calloc(1, vlen);

	for (int i = 0; i < 8; i++)
		assert_int_equal(redisAsyncCommand(f->ac, on_reply, f, "SET k %b", v, vlen),
		                 REDIS_OK);
	free(v);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	close(f->server);
	f->server = -1;
	run_until(f, &f->disconnected, 1);
	assert_int_equal(f->disconnected, 1);
	f->ac = NULL;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_turn_written_at_its_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_short_write_finishes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_from_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_with_flush_active, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_in_callback, setup, teardown),
	    cmocka_unit_test(test_connect_refused),
	    cmocka_unit_test_setup_teardown(test_gone_during_short_write, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
