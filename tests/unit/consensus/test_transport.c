/*
 * Tests of consensus/transport.h, driven the way raft_uv drives it (init,
 * listen, connect, close through struct raft_uv_transport): two transports
 * with the same secret hand connected streams to raft that carry bytes; a
 * different secret is refused on both sides; raw clients sending garbage, an
 * oversized address or nothing at all are dropped and logged while the
 * listener keeps working; close cancels a connect stuck in its handshake.
 * Ports are reserved at run time; every test closes every handle and checks
 * that uv_loop_close succeeds.
 */
#include "config.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <raft.h>
#include <raft/uv.h>
#include <sodium.h>
#include <uv.h>

#include "common/buf.h"
#include "common/log.h"
#include "consensus/transport.h"
#include "tests/unit/consensus/suites.h"

/* A free TCP port on 127.0.0.1: bind port 0, read it back, close. */
static int reserve_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One accepted or connected stream, as raft would hold it. */
struct peer_stream {
	uv_stream_t *stream;
	uint64_t id;
	char addr[64];
	char data[64];
	size_t len;
};

struct fixture {
	uv_loop_t loop;
	uv_timer_t tick; /* wakes uv_run(UV_RUN_ONCE) so deadlines are checked */
	struct logger lg;
	unsigned warns;
	char last_warn[512];
	struct transport t1, t2;
	char addr1[32], addr2[32];
	int port1;
	unsigned closed; /* transport close callbacks */
	struct peer_stream accepted;
	unsigned naccepted;
	struct raft_uv_connect req;
	struct peer_stream connected;
	int connect_status;
	bool connect_done;
	/* A raw client or silent server of the test itself. */
	uv_tcp_t raw;
	uv_tcp_t raw_server;
	uv_connect_t raw_connect;
	uv_write_t raw_write;
	uint8_t raw_out[512];
	size_t raw_out_len;
	char raw_in[256];
	size_t raw_in_len;
	bool raw_eof;
	bool raw_answer; /* answer message 1 with a valid message 2 plus extra bytes */
	uv_write_t raw_write2;
	uint8_t raw_msg2[256];
	bool raw_inited, raw_server_inited;
};

static struct fixture *f;
static struct fixture fixture_storage;

static void emit(void *data, int level, const char *line)
{
	(void)data;
	if (level >= LOG_LEVEL_WARN) {
		f->warns++;
		snprintf(f->last_warn, sizeof f->last_warn, "%s", line);
	}
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

static const uint8_t secret_a[TRANSPORT_SECRET_LEN] = "0123456789abcdef0123456789abcdef";
static const uint8_t secret_b[TRANSPORT_SECRET_LEN] = "fedcba9876543210fedcba9876543210";

static void setup(void)
{
	/* libuv writes to sockets with write(2): a peer that went away must not
	 * kill the process (the agent ignores SIGPIPE too). */
	signal(SIGPIPE, SIG_IGN);
	f = &fixture_storage;
	memset(f, 0, sizeof *f);
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	uv_timer_init(&f->loop, &f->tick);
	uv_timer_start(&f->tick, tick_cb, 10, 10);
	f->lg.level = LOG_LEVEL_WARN;
	f->lg.emit = emit;
	f->port1 = reserve_port();
	snprintf(f->addr1, sizeof f->addr1, "127.0.0.1:%d", f->port1);
	snprintf(f->addr2, sizeof f->addr2, "127.0.0.1:%d", reserve_port());
}

static void transport_closed(struct raft_uv_transport *t)
{
	(void)t;
	f->closed++;
}

static void free_stream(uv_handle_t *h)
{
	raft_free(h);
}

static void noop_close(uv_handle_t *h)
{
	(void)h;
}

/* Runs the loop until `*flag` is true or `ms` elapsed; returns the flag. */
static bool run_until(const bool *flag, double ms)
{
	double deadline = now_ms() + ms;

	while (!*flag && now_ms() < deadline)
		uv_run(&f->loop, UV_RUN_ONCE);
	return *flag;
}

/* Runs the loop for `ms` milliseconds. */
static void run_for(double ms)
{
	double deadline = now_ms() + ms;

	while (now_ms() < deadline)
		uv_run(&f->loop, UV_RUN_ONCE);
}

static void teardown(void)
{
	bool done = false;
	double deadline;

	if (f->accepted.stream != NULL)
		uv_close((uv_handle_t *)f->accepted.stream, free_stream);
	if (f->connected.stream != NULL)
		uv_close((uv_handle_t *)f->connected.stream, free_stream);
	if (f->raw_inited && !uv_is_closing((uv_handle_t *)&f->raw))
		uv_close((uv_handle_t *)&f->raw, noop_close);
	if (f->raw_server_inited)
		uv_close((uv_handle_t *)&f->raw_server, noop_close);
	f->t1.raft.close(&f->t1.raft, transport_closed);
	f->t2.raft.close(&f->t2.raft, transport_closed);
	uv_close((uv_handle_t *)&f->tick, noop_close);
	deadline = now_ms() + 10000;
	while (uv_loop_alive(&f->loop) && now_ms() < deadline)
		uv_run(&f->loop, UV_RUN_ONCE);
	done = f->closed == 2;
	ck_assert(done);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

static void accept_cb(struct raft_uv_transport *t, raft_id id, const char *address,
		      uv_stream_t *stream)
{
	(void)t;
	f->naccepted++;
	f->accepted.stream = stream;
	f->accepted.id = id;
	snprintf(f->accepted.addr, sizeof f->accepted.addr, "%s", address);
}

static void connect_cb(struct raft_uv_connect *req, uv_stream_t *stream, int status)
{
	(void)req;
	f->connect_done = true;
	f->connect_status = status;
	f->connected.stream = stream;
}

/* t1 (node 1) listens with `s1`; t2 (node 2, not listening) has `s2`. */
static void start_pair(const uint8_t *s1, const uint8_t *s2)
{
	ck_assert_int_eq(transport_init(&f->t1, &f->loop, s1, &f->lg), 0);
	ck_assert_int_eq(transport_init(&f->t2, &f->loop, s2, &f->lg), 0);
	ck_assert_int_eq(f->t1.raft.version, 1);
	ck_assert_int_eq(f->t1.raft.init(&f->t1.raft, 1, f->addr1), 0);
	ck_assert_int_eq(f->t2.raft.init(&f->t2.raft, 2, f->addr2), 0);
	ck_assert_int_eq(f->t1.raft.listen(&f->t1.raft, accept_cb), 0);
}

static void connect_2_to_1(void)
{
	f->connect_done = false;
	ck_assert_int_eq(f->t2.raft.connect(&f->t2.raft, &f->req, 1, f->addr1, connect_cb), 0);
	ck_assert(run_until(&f->connect_done, 5000));
}

static void read_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct peer_stream *p = h->data;

	(void)suggested;
	buf->base = p->data + p->len;
	buf->len = sizeof p->data - p->len;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct peer_stream *p = s->data;

	(void)buf;
	if (n > 0)
		p->len += (size_t)n;
}

static void write_cb(uv_write_t *w, int status)
{
	(void)w;
	ck_assert_int_eq(status, 0);
}

/* Connects a good pair and checks bytes flow from t2's stream to t1's. */
static void assert_good_connection(void)
{
	static char msg[] = "entries, 8-byte aligned";
	uv_write_t w;
	uv_buf_t b = uv_buf_init(msg, sizeof msg);
	double deadline;

	connect_2_to_1();
	ck_assert_int_eq(f->connect_status, 0);
	ck_assert_ptr_nonnull(f->connected.stream);
	deadline = now_ms() + 5000;
	while (f->naccepted == 0 && now_ms() < deadline)
		uv_run(&f->loop, UV_RUN_ONCE);
	ck_assert_uint_eq(f->naccepted, 1);
	ck_assert_uint_eq(f->accepted.id, 2);
	ck_assert_str_eq(f->accepted.addr, f->addr2);

	f->accepted.stream->data = &f->accepted;
	ck_assert_int_eq(uv_read_start(f->accepted.stream, read_alloc, read_cb), 0);
	ck_assert_int_eq(uv_write(&w, f->connected.stream, &b, 1, write_cb), 0);
	deadline = now_ms() + 5000;
	while (f->accepted.len < sizeof msg && now_ms() < deadline)
		uv_run(&f->loop, UV_RUN_ONCE);
	ck_assert_uint_eq(f->accepted.len, sizeof msg);
	ck_assert_mem_eq(f->accepted.data, msg, sizeof msg);
}

START_TEST(test_transport_same_secret_hands_over_streams)
{
	start_pair(secret_a, secret_a);
	assert_good_connection();
	ck_assert_uint_eq(f->t1.rejected, 0);
	ck_assert_uint_eq(f->t2.rejected, 0);
	ck_assert_uint_eq(f->warns, 0);
}
END_TEST

START_TEST(test_transport_wrong_secret_rejected_on_both_sides)
{
	start_pair(secret_a, secret_b);
	connect_2_to_1();
	ck_assert_int_ne(f->connect_status, 0);
	ck_assert_ptr_null(f->connected.stream);
	run_for(100);
	ck_assert_uint_eq(f->naccepted, 0);
	ck_assert_uint_eq(f->t1.rejected, 1);
	ck_assert_uint_eq(f->t2.rejected, 1);
	ck_assert_uint_ge(f->warns, 2);
}
END_TEST

/* The raw client of the test. */

static void raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	buf->base = f->raw_in + f->raw_in_len;
	buf->len = sizeof f->raw_in - f->raw_in_len;
}

static void raw_write_cb(uv_write_t *w, int status);

/* A correct message 2 of node 3 at "127.0.0.1:1" followed by raft-looking
 * bytes, sent before message 3 came back. */
static void raw_send_msg2(uv_stream_t *s)
{
	static const char addr[] = "127.0.0.1:1";
	crypto_auth_hmacsha256_state st;
	uint8_t *p = f->raw_msg2;
	uv_buf_t b;
	size_t len;

	f->raw_answer = false;
	memcpy(p, "LGS1", 4);
	randombytes_buf(p + 4, 32);
	be64_put(p + 36, 3);
	be16_put(p + 44, sizeof addr - 1);
	memcpy(p + 46, addr, sizeof addr - 1);
	crypto_auth_hmacsha256_init(&st, secret_a, TRANSPORT_SECRET_LEN);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)"logos-connect", 13);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)f->raw_in + 4, 32);
	crypto_auth_hmacsha256_update(&st, p + 4, 32);
	crypto_auth_hmacsha256_update(&st, p + 36, 8);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)addr, sizeof addr - 1);
	len = 46 + sizeof addr - 1;
	crypto_auth_hmacsha256_final(&st, p + len);
	len += 32;
	memset(p + len, 0xab, 16); /* the extra bytes */
	len += 16;
	b = uv_buf_init((char *)p, (unsigned)len);
	ck_assert_int_eq(uv_write(&f->raw_write2, s, &b, 1, raw_write_cb), 0);
}

static void raw_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	if (n > 0) {
		f->raw_in_len += (size_t)n;
		if (f->raw_answer && f->raw_in_len >= 36)
			raw_send_msg2(s);
	} else if (n < 0) {
		f->raw_eof = true;
		uv_read_stop(s);
	}
}

static void raw_write_cb(uv_write_t *w, int status)
{
	(void)w;
	(void)status; /* The server may have closed already. */
}

static void raw_connect_cb(uv_connect_t *c, int status)
{
	uv_buf_t b = uv_buf_init((char *)f->raw_out, (unsigned)f->raw_out_len);

	(void)c;
	ck_assert_int_eq(status, 0);
	if (f->raw_out_len > 0)
		ck_assert_int_eq(
			uv_write(&f->raw_write, (uv_stream_t *)&f->raw, &b, 1, raw_write_cb), 0);
	ck_assert_int_eq(uv_read_start((uv_stream_t *)&f->raw, raw_alloc, raw_read_cb), 0);
}

/* Connects a raw client to t1 that sends `out` and then waits; returns once
 * t1 dropped it. */
static void raw_client_is_dropped(const void *out, size_t len)
{
	struct sockaddr_in sa;

	memcpy(f->raw_out, out, len);
	f->raw_out_len = len;
	uv_tcp_init(&f->loop, &f->raw);
	f->raw_inited = true;
	ck_assert_int_eq(uv_ip4_addr("127.0.0.1", f->port1, &sa), 0);
	ck_assert_int_eq(
		uv_tcp_connect(&f->raw_connect, &f->raw, (struct sockaddr *)&sa, raw_connect_cb),
		0);
	ck_assert(run_until(&f->raw_eof, 5000));
	ck_assert_uint_eq(f->t1.rejected, 1);
	ck_assert_uint_eq(f->naccepted, 0);
	/* The warning names the peer. */
	ck_assert_ptr_nonnull(strstr(f->last_warn, "127.0.0.1:"));
	uv_close((uv_handle_t *)&f->raw, noop_close);
}

START_TEST(test_transport_garbage_client_dropped)
{
	static const char garbage[] = "GET / HTTP/1.1\r\nHost: raft\r\n\r\n"
				      "0123456789012345678901234567890123456789";

	start_pair(secret_a, secret_a);
	raw_client_is_dropped(garbage, sizeof garbage);
	/* Message 1 came first: magic and a nonce. */
	ck_assert_uint_ge(f->raw_in_len, 36);
	ck_assert_mem_eq(f->raw_in, "LGS1", 4);
	assert_good_connection();
}
END_TEST

START_TEST(test_transport_oversized_address_dropped)
{
	uint8_t msg[4 + 32 + 8 + 2 + 64];

	memset(msg, 0, sizeof msg);
	memcpy(msg, "LGS1", 4);
	be64_put(msg + 36, 2);
	be16_put(msg + 44, 256);
	start_pair(secret_a, secret_a);
	raw_client_is_dropped(msg, sizeof msg);
	ck_assert_ptr_nonnull(strstr(f->last_warn, "address too long"));
	assert_good_connection();
}
END_TEST

START_TEST(test_transport_silent_client_times_out)
{
	double start;

	start_pair(secret_a, secret_a);
	f->t1.handshake_ms = 200;
	start = now_ms();
	raw_client_is_dropped("", 0);
	ck_assert_double_ge(now_ms() - start, 150);
	ck_assert_ptr_nonnull(strstr(f->last_warn, "timed out"));
	assert_good_connection();
}
END_TEST

START_TEST(test_transport_bytes_past_message_2_dropped)
{
	start_pair(secret_a, secret_a);
	f->raw_answer = true;
	raw_client_is_dropped("", 0);
	ck_assert_ptr_nonnull(strstr(f->last_warn, "bytes past the handshake"));
	assert_good_connection();
}
END_TEST

static void raw_server_conn(uv_stream_t *server, int status)
{
	ck_assert_int_eq(status, 0);
	uv_tcp_init(&f->loop, &f->raw);
	f->raw_inited = true;
	ck_assert_int_eq(uv_accept(server, (uv_stream_t *)&f->raw), 0);
}

START_TEST(test_transport_close_cancels_pending_connect)
{
	struct sockaddr_in sa;
	bool accepted = false;

	/* A server that accepts and never speaks: t2's connect is stuck in the
	 * handshake when t2 closes. */
	start_pair(secret_a, secret_a);
	f->t1.raft.close(&f->t1.raft, transport_closed);
	uv_tcp_init(&f->loop, &f->raw_server);
	f->raw_server_inited = true;
	ck_assert_int_eq(uv_ip4_addr("127.0.0.1", f->port1, &sa), 0);
	run_for(20); /* t1's listener is closed now: the port is free */
	ck_assert_int_eq(uv_tcp_bind(&f->raw_server, (struct sockaddr *)&sa, 0), 0);
	ck_assert_int_eq(uv_listen((uv_stream_t *)&f->raw_server, 8, raw_server_conn), 0);
	ck_assert_int_eq(f->t2.raft.connect(&f->t2.raft, &f->req, 1, f->addr1, connect_cb), 0);
	run_for(100);
	accepted = f->raw_inited;
	ck_assert(accepted);
	ck_assert(!f->connect_done);
	f->t2.raft.close(&f->t2.raft, transport_closed);
	ck_assert(run_until(&f->connect_done, 5000));
	ck_assert_int_eq(f->connect_status, RAFT_CANCELED);
	ck_assert_ptr_null(f->connected.stream);
	uv_close((uv_handle_t *)&f->raw_server, noop_close);
	f->raw_server_inited = false;
	uv_close((uv_handle_t *)&f->raw, noop_close);
	f->raw_inited = false;
	run_for(50);
	ck_assert_uint_eq(f->closed, 2);
	ck_assert_uint_eq(f->t2.rejected, 0);
	/* Fresh transports for teardown to close. */
	f->closed = 0;
	start_pair(secret_a, secret_a);
}
END_TEST

Suite *transport_suite(void)
{
	Suite *s = suite_create("transport");
	TCase *tc = tcase_create("handshake");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_transport_same_secret_hands_over_streams);
	tcase_add_test(tc, test_transport_wrong_secret_rejected_on_both_sides);
	tcase_add_test(tc, test_transport_garbage_client_dropped);
	tcase_add_test(tc, test_transport_oversized_address_dropped);
	tcase_add_test(tc, test_transport_silent_client_times_out);
	tcase_add_test(tc, test_transport_bytes_past_message_2_dropped);
	tcase_add_test(tc, test_transport_close_cancels_pending_connect);
	suite_add_tcase(s, tc);
	return s;
}
