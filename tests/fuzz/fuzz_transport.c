/*
 * libFuzzer target of the raft transport's handshake (consensus/transport.h),
 * driven for real: one transport listening on 127.0.0.1, on a loop of this
 * process, and a fuzzed peer on the same loop talking to it over loopback
 * TCP. Each input is one connection, in one of two directions:
 *
 *   accept   the peer connects to the transport's listener, reads message 1
 *            and sends the input's bytes as its message 2;
 *   connect  raft asks the transport to connect to the peer's listener; the
 *            peer sends the input's first bytes as message 1, reads message
 *            2 and sends the rest as message 3.
 *
 * The peer knows the cluster secret, so that the fuzzer can also reach the
 * paths behind a good MAC: with the "fix" flag the peer overwrites the MAC
 * field of what it sends with the right one (over the nonces actually
 * exchanged). Then the peer closes its side, so that a handshake left
 * incomplete fails at once instead of after the deadline.
 *
 * Input: flags u8 (bit 0: connect direction, bit 1: fix the MAC, bits 2-7:
 * the write size in bytes, 0 for one write), in the connect direction a
 * length u8 of message 1, then the bytes.
 *
 * Properties (any violation abort()s): a stream is handed to raft only after
 * a valid MAC and a well-formed message (node id not 0, an address without
 * NUL bytes; with what was sent); a well-formed message with a valid MAC and
 * nothing after it is accepted; what the transport sends is a correct
 * message 1/3 (acceptor) or message 2 (connector) with valid MACs; every
 * handshake ends (accepted or dropped) within a second; the transport has no
 * handshake left afterwards. Memory errors are ASan's and UBSan's.
 *
 * Built and run by scripts/fuzz. Compiled with -DFUZZ_MAKE_CORPUS (and
 * without -fsanitize=fuzzer) it is instead a program that writes the seeds:
 *     fuzz_transport DIR
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <sodium.h>
#include <uv.h>

#include "common/buf.h"
#include "common/log.h"
#include "consensus/transport.h"
#include "tests/lib/net.h"

/* The handshake of consensus/transport.h. */
#define MAGIC     "LGS1"
#define NONCE_LEN 32
#define MAC_LEN   32
#define MSG1_LEN  (4 + NONCE_LEN)
#define MSG2_HEAD (4 + NONCE_LEN + 8 + 2)
#define ADDR_MAX  255

#define FLAG_CONNECT 1
#define FLAG_FIX     2

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t secret[TRANSPORT_SECRET_LEN] = "logos fuzz secret, 32 bytes long";

/* What one input does and what came of it (reset for every input). */
struct run {
	bool peer_open;
	unsigned nclosing;
	bool expired;
	uint8_t in[1024]; /* what the peer received */
	size_t in_len;
	bool eof;
	bool wrote_phase2;
	/* What the input asks. */
	bool connect;
	bool fix;
	size_t chunk;
	uint8_t *msg; /* accept: message 2; connect: message 1 */
	size_t msg_len;
	uint8_t *msg3; /* connect: message 3 */
	size_t msg3_len;
	/* Outcome. */
	bool accepted;
	uint64_t accepted_id;
	char accepted_addr[ADDR_MAX + 2];
	bool connect_done;
	int connect_status;
};

static struct {
	uv_loop_t loop;
	struct logger lg;
	struct transport t;
	char t_addr[32];
	uv_tcp_t server; /* the peer's listener (connect direction) */
	char server_addr[32];
	uv_tcp_t peer;
	uv_connect_t creq;
	uv_shutdown_t sreq;
	uv_timer_t deadline;
	struct raft_uv_connect rreq;
	struct run r;
} g;

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_transport: %s\n", what);
	abort();
}

static void mac_connect(const uint8_t *nonce_a, const uint8_t *nonce_c, const uint8_t *id_be,
			const uint8_t *addr, size_t addr_len, uint8_t *mac)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, secret, sizeof secret);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)"logos-connect", 13);
	crypto_auth_hmacsha256_update(&st, nonce_a, NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, nonce_c, NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, id_be, 8);
	crypto_auth_hmacsha256_update(&st, addr, addr_len);
	crypto_auth_hmacsha256_final(&st, mac);
}

static void mac_accept(const uint8_t *nonce_c, const uint8_t *nonce_a, uint8_t *mac)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, secret, sizeof secret);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)"logos-accept", 12);
	crypto_auth_hmacsha256_update(&st, nonce_c, NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, nonce_a, NONCE_LEN);
	crypto_auth_hmacsha256_final(&st, mac);
}

/* A free port on 127.0.0.1, as "127.0.0.1:PORT". */
static void free_address(char *out, size_t size)
{
	if (test_free_address(out, size) != 0)
		fail("cannot reserve a port");
}

static void free_stream_cb(uv_handle_t *h)
{
	raft_free(h);
}

/* raft's accept callback. */
static void on_accept(struct raft_uv_transport *rt, raft_id id, const char *address,
		      uv_stream_t *stream)
{
	if (g.r.accepted || g.r.connect)
		fail("a stream was accepted twice, or on the connect side");
	g.r.accepted = true;
	g.r.accepted_id = id;
	snprintf(g.r.accepted_addr, sizeof g.r.accepted_addr, "%s", address);
	uv_close((uv_handle_t *)stream, free_stream_cb);
}

/* raft's connect callback. */
static void on_connect_done(struct raft_uv_connect *req, uv_stream_t *stream, int status)
{
	if (g.r.connect_done)
		fail("the connect callback fired twice");
	g.r.connect_done = true;
	g.r.connect_status = status;
	if ((status == 0) != (stream != NULL))
		fail("connect callback: a stream without success or success without one");
	if (stream != NULL)
		uv_close((uv_handle_t *)stream, free_stream_cb);
}

static void peer_close_cb(uv_handle_t *h)
{
	g.r.nclosing--;
}

static void peer_close(void)
{
	if (!g.r.peer_open)
		return;
	g.r.peer_open = false;
	g.r.nclosing++;
	uv_close((uv_handle_t *)&g.peer, peer_close_cb);
}

static void write_cb(uv_write_t *w, int status)
{
	free(w);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
}

/* Writes `len` bytes in writes of g.r.chunk bytes (copied). */
static void peer_send(const uint8_t *p, size_t len)
{
	size_t n;

	while (len > 0 && g.r.peer_open) {
		uv_write_t *w;
		uv_buf_t b;

		n = g.r.chunk == 0 || g.r.chunk > len ? len : g.r.chunk;
		w = malloc(sizeof *w + n);
		if (w == NULL)
			fail("out of memory");
		memcpy(w + 1, p, n);
		b = uv_buf_init((char *)(w + 1), (unsigned)n);
		if (uv_write(w, (uv_stream_t *)&g.peer, &b, 1, write_cb) != 0) {
			free(w);
			return;
		}
		p += n;
		len -= n;
	}
}

static void peer_finish(void)
{
	if (g.r.peer_open)
		uv_shutdown(&g.sreq, (uv_stream_t *)&g.peer, shutdown_cb);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	b->base = (char *)g.r.in + g.r.in_len;
	b->len = sizeof g.r.in - g.r.in_len;
}

/* Accept direction: message 1 arrived; send the input as message 2. */
static void send_msg2(void)
{
	uint8_t *m = g.r.msg;
	size_t addr_len;

	if (memcmp(g.r.in, MAGIC, 4) != 0)
		fail("message 1 without the magic");
	if (g.r.fix && g.r.msg_len >= MSG2_HEAD) {
		addr_len = be16_get(m + 4 + NONCE_LEN + 8);
		if (g.r.msg_len >= MSG2_HEAD + addr_len + MAC_LEN)
			mac_connect(g.r.in + 4, m + 4, m + 4 + NONCE_LEN, m + MSG2_HEAD, addr_len,
				    m + MSG2_HEAD + addr_len);
	}
	peer_send(m, g.r.msg_len);
	peer_finish();
}

/* Connect direction: message 2 arrived; check it, send message 3. */
static void send_msg3(void)
{
	size_t addr_len = strlen(g.t_addr);
	uint8_t mac[MAC_LEN];

	if (memcmp(g.r.in, MAGIC, 4) != 0 || be64_get(g.r.in + 4 + NONCE_LEN) != 1 ||
	    be16_get(g.r.in + 4 + NONCE_LEN + 8) != addr_len ||
	    memcmp(g.r.in + MSG2_HEAD, g.t_addr, addr_len) != 0)
		fail("message 2 is not the transport's id and address");
	mac_connect(g.r.msg + 4, g.r.in + 4, g.r.in + 4 + NONCE_LEN, g.r.in + MSG2_HEAD, addr_len,
		    mac);
	if (memcmp(mac, g.r.in + MSG2_HEAD + addr_len, MAC_LEN) != 0)
		fail("message 2 has a wrong MAC");
	if (g.r.fix && g.r.msg3_len >= MAC_LEN)
		mac_accept(g.r.in + 4, g.r.msg + 4, g.r.msg3);
	g.r.wrote_phase2 = true;
	peer_send(g.r.msg3, g.r.msg3_len);
	peer_finish();
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	size_t want;

	if (n < 0) {
		g.r.eof = true;
		uv_read_stop(s);
		return;
	}
	g.r.in_len += (size_t)n;
	if (g.r.connect) {
		want = MSG2_HEAD + strlen(g.t_addr) + MAC_LEN;
		if (!g.r.wrote_phase2 && g.r.in_len >= want)
			send_msg3();
	} else if (g.r.in_len >= MSG1_LEN && g.r.in_len - (size_t)n < MSG1_LEN) {
		send_msg2();
	}
}

static void on_peer_connected(uv_connect_t *req, int status)
{
	if (status != 0)
		fail("cannot connect to the transport");
	uv_read_start((uv_stream_t *)&g.peer, alloc_cb, read_cb);
}

static void on_server_connection(uv_stream_t *server, int status)
{
	if (status != 0 || g.r.peer_open)
		fail("unexpected connection to the peer's listener");
	uv_tcp_init(&g.loop, &g.peer);
	if (uv_accept(server, (uv_stream_t *)&g.peer) != 0)
		fail("accept");
	g.r.peer_open = true;
	uv_tcp_nodelay(&g.peer, 1);
	uv_read_start((uv_stream_t *)&g.peer, alloc_cb, read_cb);
	peer_send(g.r.msg, g.r.msg_len);
	/* Anything but a plain message 1 ends the handshake here. */
	if (g.r.msg_len != MSG1_LEN || memcmp(g.r.msg, MAGIC, 4) != 0) {
		g.r.wrote_phase2 = true;
		peer_send(g.r.msg3, g.r.msg3_len);
		peer_finish();
	}
}

static void on_deadline(uv_timer_t *t)
{
	g.r.expired = true;
}

static struct sockaddr_in parse(const char *address)
{
	struct sockaddr_in sa;
	char host[32];
	const char *colon = strrchr(address, ':');

	snprintf(host, sizeof host, "%.*s", (int)(colon - address), address);
	if (uv_ip4_addr(host, atoi(colon + 1), &sa) != 0)
		fail("bad address");
	return sa;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_in sa;
	int len = sizeof sa;

	signal(SIGPIPE, SIG_IGN);
	if (uv_loop_init(&g.loop) != 0)
		fail("uv_loop_init");
	logger_init(&g.lg, LOG_LEVEL_OFF);
	if (transport_init(&g.t, &g.loop, secret, &g.lg) != 0)
		fail("transport_init");
	free_address(g.t_addr, sizeof g.t_addr);
	if (g.t.raft.init(&g.t.raft, 1, g.t_addr) != 0 ||
	    g.t.raft.listen(&g.t.raft, on_accept) != 0)
		fail(g.t.raft.errmsg);
	uv_tcp_init(&g.loop, &g.server);
	sa = parse("127.0.0.1:0");
	if (uv_tcp_bind(&g.server, (struct sockaddr *)&sa, 0) != 0 ||
	    uv_listen((uv_stream_t *)&g.server, 8, on_server_connection) != 0 ||
	    uv_tcp_getsockname(&g.server, (struct sockaddr *)&sa, &len) != 0)
		fail("peer listener");
	snprintf(g.server_addr, sizeof g.server_addr, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
	uv_timer_init(&g.loop, &g.deadline);
	return 0;
}

/* Checks the acceptor's outcome against the message 2 that was sent. */
static void check_accept(void)
{
	const uint8_t *m = g.r.msg;
	size_t addr_len, total;
	uint8_t mac[MAC_LEN], mac3[MAC_LEN];
	bool valid = false, exact = false;
	char addr[ADDR_MAX + 1];

	if (g.r.in_len < MSG1_LEN)
		fail("the transport sent no message 1");
	if (g.r.msg_len >= MSG2_HEAD && memcmp(m, MAGIC, 4) == 0) {
		addr_len = be16_get(m + 4 + NONCE_LEN + 8);
		total = MSG2_HEAD + addr_len + MAC_LEN;
		if (addr_len >= 1 && addr_len <= ADDR_MAX && g.r.msg_len >= total) {
			mac_connect(g.r.in + 4, m + 4, m + 4 + NONCE_LEN, m + MSG2_HEAD, addr_len,
				    mac);
			memcpy(addr, m + MSG2_HEAD, addr_len);
			addr[addr_len] = '\0';
			valid = memcmp(mac, m + MSG2_HEAD + addr_len, MAC_LEN) == 0 &&
				be64_get(m + 4 + NONCE_LEN) != 0 && strlen(addr) == addr_len;
			exact = g.r.msg_len == total;
			if (g.r.accepted && (g.r.accepted_id != be64_get(m + 4 + NONCE_LEN) ||
					     strcmp(g.r.accepted_addr, addr) != 0))
				fail("accepted with another id or address than sent");
		}
	}
	if (g.r.accepted && !valid)
		fail("a stream was accepted without a valid message 2");
	if (valid && exact && !g.r.accepted)
		fail("a valid message 2 was refused");
	/* After bytes past message 2, closing the accepted stream may reset the
	 * connection before message 3 is read: check it when it arrived. */
	if (g.r.accepted && (exact || g.r.in_len >= MSG1_LEN + MAC_LEN)) {
		if (g.r.in_len != MSG1_LEN + MAC_LEN)
			fail("the acceptor did not send exactly message 3");
		mac_accept(m + 4, g.r.in + 4, mac3);
		if (memcmp(mac3, g.r.in + MSG1_LEN, MAC_LEN) != 0)
			fail("message 3 has a wrong MAC");
	}
}

/* Checks the connector's outcome against the message 3 that was sent. */
static void check_connect(void)
{
	size_t want = MSG2_HEAD + strlen(g.t_addr) + MAC_LEN;
	uint8_t mac[MAC_LEN];
	bool plain1 = g.r.msg_len == MSG1_LEN && memcmp(g.r.msg, MAGIC, 4) == 0;
	bool valid = false;

	if (!g.r.connect_done)
		fail("the connect callback did not fire");
	if (plain1 && g.r.in_len >= want && g.r.msg3_len >= MAC_LEN) {
		mac_accept(g.r.in + 4, g.r.msg + 4, mac);
		valid = memcmp(mac, g.r.msg3, MAC_LEN) == 0;
	}
	if (g.r.connect_status == 0 && !valid)
		fail("connected without a valid message 3");
	if (valid && g.r.msg3_len == MAC_LEN && g.r.connect_status != 0)
		fail("a valid message 3 was refused");
	if (g.r.connect_status != 0 && g.r.connect_status != RAFT_NOCONNECTION)
		fail("the connect callback failed with an unexpected status");
	if (g.r.in_len > want)
		fail("the connector sent more than message 2");
}

static bool input_done(void)
{
	if (g.r.connect)
		return g.r.connect_done && g.t.npending == 0;
	return (g.r.accepted || g.r.eof) && g.t.npending == 0 &&
	       (!g.r.accepted || g.r.in_len >= MSG1_LEN + MAC_LEN || g.r.eof);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t copy[2048];
	struct sockaddr_in sa;
	size_t n1;

	if (size < 1 || size > sizeof copy)
		return 0;
	memset(&g.r, 0, sizeof g.r);
	g.r.connect = data[0] & FLAG_CONNECT;
	g.r.fix = data[0] & FLAG_FIX;
	g.r.chunk = data[0] >> 2;
	memcpy(copy, data + 1, size - 1);
	size--;
	if (g.r.connect) {
		n1 = size > 0 ? copy[0] : 0;
		if (size > 0)
			size--;
		if (n1 > size)
			n1 = size;
		g.r.msg = copy + 1;
		g.r.msg_len = n1;
		g.r.msg3 = copy + 1 + n1;
		g.r.msg3_len = size - n1;
	} else {
		g.r.msg = copy;
		g.r.msg_len = size;
	}

	uv_timer_start(&g.deadline, on_deadline, 1000, 0);
	if (g.r.connect) {
		g.rreq.cb = NULL;
		if (g.t.raft.connect(&g.t.raft, &g.rreq, 2, g.server_addr, on_connect_done) != 0)
			fail(g.t.raft.errmsg);
	} else {
		uv_tcp_init(&g.loop, &g.peer);
		g.r.peer_open = true;
		uv_tcp_nodelay(&g.peer, 1);
		sa = parse(g.t_addr);
		if (uv_tcp_connect(&g.creq, &g.peer, (struct sockaddr *)&sa, on_peer_connected) !=
		    0)
			fail("uv_tcp_connect");
	}
	while (!input_done() && !g.r.expired)
		uv_run(&g.loop, UV_RUN_ONCE);
	if (g.r.expired)
		fail("the handshake neither finished nor failed within a second");
	uv_timer_stop(&g.deadline);
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr,
			"fuzz_transport: %s: sent %zu+%zu, received %zu, eof %d, accepted %d, "
			"connect status %d\n",
			g.r.connect ? "connect" : "accept", g.r.msg_len, g.r.msg3_len, g.r.in_len,
			g.r.eof, g.r.accepted, g.r.connect_done ? g.r.connect_status : -1);
	if (g.r.connect)
		check_connect();
	else
		check_accept();
	peer_close();
	while (g.r.nclosing > 0)
		uv_run(&g.loop, UV_RUN_ONCE);
	/* Let the transport's close callbacks of this input run. */
	uv_run(&g.loop, UV_RUN_NOWAIT);
	return 0;
}

#ifdef FUZZ_MAKE_CORPUS
static void write_seed(const char *dir, const char *name, const void *p, size_t len)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* An accept-direction input: flags, then a message 2 for `addr`. */
static size_t msg2_seed(uint8_t *out, uint8_t flags, uint64_t id, const char *addr, size_t extra)
{
	size_t n = 0, alen = strlen(addr);

	if (strcmp(addr, "nul") == 0) { /* an address with a NUL byte inside */
		addr = "127.0.0.1\0:7002";
		alen = 14;
	}
	out[n++] = flags;
	memcpy(out + n, MAGIC, 4);
	n += 4;
	memset(out + n, 0x5a, NONCE_LEN);
	n += NONCE_LEN;
	be64_put(out + n, id);
	n += 8;
	be16_put(out + n, (uint16_t)alen);
	n += 2;
	memcpy(out + n, addr, alen);
	n += alen;
	memset(out + n, 0, MAC_LEN + extra); /* the MAC, fixed by the flag */
	return n + MAC_LEN + extra;
}

/* A connect-direction input: flags, len, message 1, message 3. */
static size_t msg13_seed(uint8_t *out, uint8_t flags, size_t len1, size_t len3)
{
	size_t n = 0;

	out[n++] = flags;
	out[n++] = (uint8_t)len1;
	memcpy(out + n, MAGIC, len1 < 4 ? len1 : 4);
	if (len1 > 4)
		memset(out + n + 4, 0xa5, len1 - 4);
	n += len1;
	memset(out + n, 0, len3);
	return n + len3;
}

int main(int argc, char **argv)
{
	uint8_t b[512];
	char addr[ADDR_MAX + 1];

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	write_seed(argv[1], "accept-good", b, msg2_seed(b, FLAG_FIX, 2, "127.0.0.1:7002", 0));
	write_seed(argv[1], "accept-good-bytewise", b,
		   msg2_seed(b, FLAG_FIX | 1 << 2, 2, "127.0.0.1:7002", 0));
	write_seed(argv[1], "accept-good-chunks", b,
		   msg2_seed(b, FLAG_FIX | 7 << 2, 3, "10.0.0.3:7003", 0));
	write_seed(argv[1], "accept-wrong-mac", b, msg2_seed(b, 0, 2, "127.0.0.1:7002", 0));
	write_seed(argv[1], "accept-id-zero", b, msg2_seed(b, FLAG_FIX, 0, "127.0.0.1:7002", 0));
	write_seed(argv[1], "accept-extra", b, msg2_seed(b, FLAG_FIX, 2, "127.0.0.1:7002", 5));
	write_seed(argv[1], "accept-nul-in-addr", b, msg2_seed(b, FLAG_FIX, 2, "nul", 0));
	memset(addr, 'a', ADDR_MAX);
	addr[ADDR_MAX] = '\0';
	write_seed(argv[1], "accept-longest-addr", b, msg2_seed(b, FLAG_FIX, 2, addr, 0));
	write_seed(argv[1], "accept-truncated", b, msg2_seed(b, FLAG_FIX, 2, "x", 0) - 10);
	write_seed(argv[1], "accept-empty", b, 1);
	write_seed(argv[1], "connect-good", b, msg13_seed(b, 1 | FLAG_FIX, MSG1_LEN, MAC_LEN));
	write_seed(argv[1], "connect-good-bytewise", b,
		   msg13_seed(b, 1 | FLAG_FIX | 1 << 2, MSG1_LEN, MAC_LEN));
	write_seed(argv[1], "connect-wrong-mac", b, msg13_seed(b, 1, MSG1_LEN, MAC_LEN));
	write_seed(argv[1], "connect-extra", b, msg13_seed(b, 1 | FLAG_FIX, MSG1_LEN, MAC_LEN + 8));
	write_seed(argv[1], "connect-short-msg1", b, msg13_seed(b, 1, 20, 0));
	write_seed(argv[1], "connect-long-msg1", b, msg13_seed(b, 1 | FLAG_FIX, 40, MAC_LEN));
	return 0;
}
#endif /* FUZZ_MAKE_CORPUS */
