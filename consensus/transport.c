/*
 * The raft_uv transport of consensus/transport.h: a TCP listener and outgoing
 * TCP connections, each of which must pass the mutual HMAC handshake on the
 * cluster secret before its stream is handed to raft.
 *
 * Every connection in handshake is a `struct hs` owning two handles: the TCP
 * stream (raft_malloc'd, because raft_uv frees the streams it receives with
 * raft_free after uv_close, see raft's uv_recv.c and uv_send.c) and a timer
 * for the handshake deadline. On success the stream goes to raft and only the
 * timer is left to close; on failure both are closed, and for an outgoing
 * connection raft's connect callback fires once both close callbacks ran
 * (never a stream freed before its close callback). The transport's close
 * callback fires when the listener and every `struct hs` are gone.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <raft.h>
#include <raft/uv.h>
#include <sodium.h>
#include <uv.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"
#include "consensus/internal.h"
#include "consensus/transport.h"

#define HS_MAGIC     "LGS1"
#define HS_MAGIC_LEN 4
#define HS_NONCE_LEN 32
#define HS_MAC_LEN   crypto_auth_hmacsha256_BYTES
#define HS_ADDR_MAX  255
#define HS_MSG1_LEN  (HS_MAGIC_LEN + HS_NONCE_LEN)
#define HS_MSG2_HEAD (HS_MAGIC_LEN + HS_NONCE_LEN + 8 + 2)
#define HS_MSG2_MAX  (HS_MSG2_HEAD + HS_ADDR_MAX + HS_MAC_LEN)
#define HS_MSG3_LEN  HS_MAC_LEN

enum {
	HS_ACCEPT_WAIT_MSG2, /* acceptor: msg 1 sent, reading msg 2 */
	HS_ACCEPT_SEND_MSG3, /* acceptor: writing msg 3 */
	HS_CONNECTING,       /* connector: TCP connect in progress */
	HS_CONNECT_WAIT_MSG1,
	HS_CONNECT_WAIT_MSG3,
	HS_CONNECT_VERIFIED, /* connector: msg 3 good, msg 2 write not completed */
	HS_DONE,             /* stream handed to raft; the timer is closing */
	HS_FAILED,           /* handles closing */
};

struct hs {
	struct transport *t;
	struct hs *prev, *next;
	bool outbound;
	int state;
	uv_tcp_t *tcp; /* raft_malloc'd; NULL once handed over or closed */
	uv_timer_t timer;
	uv_connect_t connect;
	uv_write_t write;
	bool writing;
	unsigned nclosing; /* handles whose close callback is still due */
	/* Connector: raft's request, completed exactly once. */
	struct raft_uv_connect *req;
	int status; /* for req->cb on failure */
	uint8_t nonce_a[HS_NONCE_LEN];
	uint8_t nonce_c[HS_NONCE_LEN];
	uint8_t out[HS_MSG2_MAX];
	uint8_t in[HS_MSG2_MAX + 1]; /* one spare byte to notice excess data */
	size_t in_len;
	uint64_t peer_id;
	char peer_addr[HS_ADDR_MAX + 1];
	char peer[64]; /* "IP:PORT" of the socket, for logs */
};

static struct hs *hs_list(struct transport *t)
{
	return t->pending;
}

static void hs_link(struct transport *t, struct hs *h)
{
	h->prev = NULL;
	h->next = hs_list(t);
	if (h->next != NULL)
		h->next->prev = h;
	t->pending = h;
	t->npending++;
}

static void hs_unlink(struct transport *t, struct hs *h)
{
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		t->pending = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	t->npending--;
}

static void transport_maybe_closed(struct transport *t)
{
	raft_uv_transport_close_cb cb;

	if (!t->closing || t->listening || t->npending > 0 || t->close_cb == NULL)
		return;
	cb = t->close_cb;
	t->close_cb = NULL;
	cb(&t->raft);
}

/* Frees `h` once its handles are closed; completes raft's connect request
 * of a failed outgoing handshake. */
static void hs_maybe_free(struct hs *h)
{
	struct transport *t = h->t;
	struct raft_uv_connect *req;
	int status;

	if (h->nclosing > 0)
		return;
	req = h->req;
	status = t->closing ? RAFT_CANCELED : h->status;
	hs_unlink(t, h);
	free(h);
	if (req != NULL)
		req->cb(req, NULL, status);
	transport_maybe_closed(t);
}

static void hs_tcp_close_cb(uv_handle_t *handle)
{
	struct hs *h = handle->data;

	raft_free(handle);
	h->nclosing--;
	hs_maybe_free(h);
}

static void hs_timer_close_cb(uv_handle_t *handle)
{
	struct hs *h = handle->data;

	h->nclosing--;
	hs_maybe_free(h);
}

/* Closes the handles of a handshake that did not succeed. `reason` non-NULL:
 * a protocol violation (logged, counted in t->rejected). */
static void hs_fail(struct hs *h, int status, const char *reason)
{
	struct transport *t = h->t;

	if (h->state == HS_FAILED || h->state == HS_DONE)
		return;
	h->state = HS_FAILED;
	h->status = status;
	if (reason != NULL) {
		t->rejected++;
		logger_warn(t->lg, "transport: rejected %s peer=%s: %s",
			    h->outbound ? "outgoing connection to" : "connection from", h->peer,
			    reason);
	}
	if (h->tcp != NULL) {
		uv_close((uv_handle_t *)h->tcp, hs_tcp_close_cb);
		h->tcp = NULL;
	}
	uv_close((uv_handle_t *)&h->timer, hs_timer_close_cb);
}

/* The handshake passed: the stream belongs to raft from now on. */
static void hs_done(struct hs *h)
{
	struct transport *t = h->t;
	uv_stream_t *stream = (uv_stream_t *)h->tcp;
	struct raft_uv_connect *req = h->req;

	h->state = HS_DONE;
	h->tcp = NULL;
	h->nclosing--; /* the stream is raft's now */
	h->req = NULL;
	stream->data = NULL;
	uv_close((uv_handle_t *)&h->timer, hs_timer_close_cb);
	if (h->outbound) {
		logger_debug(t->lg, "transport: connected peer=%s", h->peer);
		req->cb(req, stream, 0);
	} else {
		logger_debug(t->lg, "transport: accepted node=%llu addr=%s peer=%s",
			     (unsigned long long)h->peer_id, h->peer_addr, h->peer);
		t->accept_cb(&t->raft, h->peer_id, h->peer_addr, stream);
	}
}

static void hs_mac_connect(const struct transport *t, const struct hs *h, uint64_t id,
			   const char *addr, size_t addr_len, uint8_t *mac)
{
	crypto_auth_hmacsha256_state st;
	uint8_t idbe[8];

	be64_put(idbe, id);
	crypto_auth_hmacsha256_init(&st, t->secret, sizeof t->secret);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)"logos-connect", 13);
	crypto_auth_hmacsha256_update(&st, h->nonce_a, HS_NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, h->nonce_c, HS_NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, idbe, sizeof idbe);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)addr, addr_len);
	crypto_auth_hmacsha256_final(&st, mac);
}

static void hs_mac_accept(const struct transport *t, const struct hs *h, uint8_t *mac)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, t->secret, sizeof t->secret);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)"logos-accept", 12);
	crypto_auth_hmacsha256_update(&st, h->nonce_c, HS_NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, h->nonce_a, HS_NONCE_LEN);
	crypto_auth_hmacsha256_final(&st, mac);
}

static void hs_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct hs *h = handle->data;

	(void)suggested;
	buf->base = (char *)h->in + h->in_len;
	buf->len = sizeof h->in - h->in_len;
}

static void hs_write_cb(uv_write_t *req, int status);

static int hs_write(struct hs *h, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)h->out, (unsigned)len);
	int rv;

	rv = uv_write(&h->write, (uv_stream_t *)h->tcp, &b, 1, hs_write_cb);
	if (rv == 0)
		h->writing = true;
	return rv;
}

/* Acceptor: a whole message 2 is in h->in. */
static void hs_accept_msg2(struct hs *h, size_t total)
{
	const uint8_t *p = h->in;
	size_t addr_len = be16_get(p + HS_MAGIC_LEN + HS_NONCE_LEN + 8);
	uint8_t mac[HS_MAC_LEN];

	if (h->in_len > total) {
		hs_fail(h, RAFT_NOCONNECTION, "bytes past the handshake");
		return;
	}
	memcpy(h->nonce_c, p + HS_MAGIC_LEN, HS_NONCE_LEN);
	h->peer_id = be64_get(p + HS_MAGIC_LEN + HS_NONCE_LEN);
	memcpy(h->peer_addr, p + HS_MSG2_HEAD, addr_len);
	h->peer_addr[addr_len] = '\0';
	hs_mac_connect(h->t, h, h->peer_id, h->peer_addr, addr_len, mac);
	if (sodium_memcmp(mac, p + HS_MSG2_HEAD + addr_len, HS_MAC_LEN) != 0) {
		hs_fail(h, RAFT_NOCONNECTION, "wrong mac (a different cluster secret)");
		return;
	}
	if (h->peer_id == 0 || addr_len == 0 || strlen(h->peer_addr) != addr_len) {
		hs_fail(h, RAFT_NOCONNECTION, "bad node id or address");
		return;
	}
	hs_mac_accept(h->t, h, h->out);
	h->state = HS_ACCEPT_SEND_MSG3;
	if (hs_write(h, HS_MSG3_LEN) != 0)
		hs_fail(h, RAFT_NOCONNECTION, NULL);
}

/* Connector: message 1 is in h->in; answer with message 2. */
static void hs_connect_msg1(struct hs *h)
{
	struct transport *t = h->t;
	size_t addr_len = strlen(t->address);
	uint8_t *p = h->out;

	if (memcmp(h->in, HS_MAGIC, HS_MAGIC_LEN) != 0) {
		hs_fail(h, RAFT_NOCONNECTION, "bad magic");
		return;
	}
	if (h->in_len > HS_MSG1_LEN) {
		hs_fail(h, RAFT_NOCONNECTION, "bytes past the handshake");
		return;
	}
	memcpy(h->nonce_a, h->in + HS_MAGIC_LEN, HS_NONCE_LEN);
	randombytes_buf(h->nonce_c, HS_NONCE_LEN);
	memcpy(p, HS_MAGIC, HS_MAGIC_LEN);
	memcpy(p + HS_MAGIC_LEN, h->nonce_c, HS_NONCE_LEN);
	be64_put(p + HS_MAGIC_LEN + HS_NONCE_LEN, t->id);
	be16_put(p + HS_MAGIC_LEN + HS_NONCE_LEN + 8, (uint16_t)addr_len);
	memcpy(p + HS_MSG2_HEAD, t->address, addr_len);
	hs_mac_connect(t, h, t->id, t->address, addr_len, p + HS_MSG2_HEAD + addr_len);
	h->in_len = 0;
	h->state = HS_CONNECT_WAIT_MSG3;
	if (hs_write(h, HS_MSG2_HEAD + addr_len + HS_MAC_LEN) != 0)
		hs_fail(h, RAFT_NOCONNECTION, NULL);
}

/* Connector: message 3 is in h->in. */
static void hs_connect_msg3(struct hs *h)
{
	uint8_t mac[HS_MAC_LEN];

	if (h->in_len > HS_MSG3_LEN) {
		hs_fail(h, RAFT_NOCONNECTION, "bytes past the handshake");
		return;
	}
	hs_mac_accept(h->t, h, mac);
	if (sodium_memcmp(mac, h->in, HS_MAC_LEN) != 0) {
		hs_fail(h, RAFT_NOCONNECTION, "wrong mac (a different cluster secret)");
		return;
	}
	uv_read_stop((uv_stream_t *)h->tcp);
	/* Message 2 was written before the peer could answer it, but wait for
	 * its write callback anyway: h->write must outlive the request. */
	if (h->writing)
		h->state = HS_CONNECT_VERIFIED;
	else
		hs_done(h);
}

static void hs_read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
	struct hs *h = stream->data;
	size_t addr_len, total;

	(void)buf;
	if (h->state == HS_FAILED || h->state == HS_DONE)
		return;
	if (n == 0)
		return;
	if (n < 0) {
		hs_fail(h, RAFT_NOCONNECTION,
			n == UV_EOF ? "connection closed during the handshake"
				    : uv_strerror((int)n));
		return;
	}
	h->in_len += (size_t)n;
	switch (h->state) {
	case HS_ACCEPT_WAIT_MSG2:
		if (h->in_len < HS_MSG2_HEAD)
			return;
		if (memcmp(h->in, HS_MAGIC, HS_MAGIC_LEN) != 0) {
			hs_fail(h, RAFT_NOCONNECTION, "bad magic");
			return;
		}
		addr_len = be16_get(h->in + HS_MAGIC_LEN + HS_NONCE_LEN + 8);
		if (addr_len > HS_ADDR_MAX) {
			hs_fail(h, RAFT_NOCONNECTION, "address too long");
			return;
		}
		total = HS_MSG2_HEAD + addr_len + HS_MAC_LEN;
		if (h->in_len < total)
			return;
		/* Stop reading: what follows message 3 belongs to raft. */
		uv_read_stop(stream);
		hs_accept_msg2(h, total);
		return;
	case HS_CONNECT_WAIT_MSG1:
		if (h->in_len < HS_MSG1_LEN)
			return;
		hs_connect_msg1(h);
		return;
	case HS_CONNECT_WAIT_MSG3:
		if (h->in_len < HS_MSG3_LEN)
			return;
		hs_connect_msg3(h);
		return;
	default:
		/* Data while we are writing message 3: the peer did not wait. */
		hs_fail(h, RAFT_NOCONNECTION, "bytes past the handshake");
		return;
	}
}

static void hs_write_cb(uv_write_t *req, int status)
{
	struct hs *h = req->data;

	h->writing = false;
	if (h->state == HS_FAILED)
		return; /* UV_ECANCELED: the stream is closing. */
	if (status != 0) {
		hs_fail(h, RAFT_NOCONNECTION, NULL);
		return;
	}
	if (h->state == HS_ACCEPT_SEND_MSG3 || h->state == HS_CONNECT_VERIFIED)
		hs_done(h);
}

static void hs_timer_cb(uv_timer_t *timer)
{
	struct hs *h = timer->data;

	hs_fail(h, RAFT_NOCONNECTION, "handshake timed out");
}

static void free_handle_cb(uv_handle_t *handle)
{
	raft_free(handle);
}

static void hs_describe_peer(struct hs *h)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	char ip[INET6_ADDRSTRLEN];
	int len = sizeof ss;

	snprintf(h->peer, sizeof h->peer, "?");
	if (uv_tcp_getpeername(h->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET && uv_ip4_name(sin, ip, sizeof ip) == 0)
		snprintf(h->peer, sizeof h->peer, "%s:%u", ip, (unsigned)ntohs(sin->sin_port));
}

/* A new struct hs around `tcp`, with its deadline running. */
static struct hs *hs_new(struct transport *t, uv_tcp_t *tcp, bool outbound)
{
	struct hs *h;

	h = calloc(1, sizeof *h);
	if (h == NULL)
		return NULL;
	h->t = t;
	h->tcp = tcp;
	h->outbound = outbound;
	h->nclosing = 2; /* tcp and timer, until one is handed over */
	h->write.data = h;
	h->connect.data = h;
	tcp->data = h;
	uv_timer_init(t->loop, &h->timer);
	h->timer.data = h;
	uv_timer_start(&h->timer, hs_timer_cb, t->handshake_ms, 0);
	hs_link(t, h);
	return h;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct transport *t = server->data;
	uv_tcp_t *tcp;
	struct hs *h;

	if (status != 0) {
		logger_warn(t->lg, "transport: accept on %s: %s", t->address, uv_strerror(status));
		return;
	}
	tcp = raft_malloc(sizeof *tcp);
	if (tcp == NULL) {
		logger_error(t->lg, "transport: accept on %s: out of memory", t->address);
		return;
	}
	uv_tcp_init(t->loop, tcp);
	if (uv_accept(server, (uv_stream_t *)tcp) != 0) {
		uv_close((uv_handle_t *)tcp, free_handle_cb);
		return;
	}
	if (t->closing || t->npending >= TRANSPORT_PENDING_MAX) {
		t->rejected++;
		logger_warn(t->lg, "transport: dropped connection on %s: %u handshakes in progress",
			    t->address, t->npending);
		uv_close((uv_handle_t *)tcp, free_handle_cb);
		return;
	}
	uv_tcp_nodelay(tcp, 1);
	h = hs_new(t, tcp, false);
	if (h == NULL) {
		uv_close((uv_handle_t *)tcp, free_handle_cb);
		return;
	}
	hs_describe_peer(h);
	h->state = HS_ACCEPT_WAIT_MSG2;
	randombytes_buf(h->nonce_a, HS_NONCE_LEN);
	memcpy(h->out, HS_MAGIC, HS_MAGIC_LEN);
	memcpy(h->out + HS_MAGIC_LEN, h->nonce_a, HS_NONCE_LEN);
	if (hs_write(h, HS_MSG1_LEN) != 0 ||
	    uv_read_start((uv_stream_t *)tcp, hs_alloc_cb, hs_read_cb) != 0)
		hs_fail(h, RAFT_NOCONNECTION, NULL);
}

static void on_connect(uv_connect_t *creq, int status)
{
	struct hs *h = creq->data;

	if (h->state == HS_FAILED)
		return; /* UV_ECANCELED */
	if (status != 0) {
		logger_debug(h->t->lg, "transport: connect to %s: %s", h->peer,
			     uv_strerror(status));
		hs_fail(h, RAFT_NOCONNECTION, NULL);
		return;
	}
	uv_tcp_nodelay(h->tcp, 1);
	h->state = HS_CONNECT_WAIT_MSG1;
	if (uv_read_start((uv_stream_t *)h->tcp, hs_alloc_cb, hs_read_cb) != 0)
		hs_fail(h, RAFT_NOCONNECTION, NULL);
}

/* Parses a numeric IPv4 "IP:PORT". */
static int parse_addr(const char *address, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(address, ':');
	char *end;
	unsigned long port;

	if (colon == NULL || (size_t)(colon - address) >= sizeof host)
		return -1;
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port == 0 || port > 65535)
		return -1;
	return uv_ip4_addr(host, (int)port, sa) == 0 ? 0 : -1;
}

static int transport_raft_init(struct raft_uv_transport *rt, raft_id id, const char *address)
{
	struct transport *t = rt->impl;

	if (strlen(address) >= sizeof t->address) {
		snprintf(rt->errmsg, sizeof rt->errmsg, "address '%s' too long", address);
		return RAFT_NAMETOOLONG;
	}
	t->id = id;
	snprintf(t->address, sizeof t->address, "%s", address);
	return 0;
}

static void listener_close_cb(uv_handle_t *handle)
{
	struct transport *t = handle->data;

	t->listening = false;
	transport_maybe_closed(t);
}

static int transport_listen(struct raft_uv_transport *rt, raft_uv_accept_cb cb)
{
	struct transport *t = rt->impl;
	struct sockaddr_in sa;
	int rv;

	if (parse_addr(t->address, &sa) != 0) {
		snprintf(rt->errmsg, sizeof rt->errmsg, "listen: bad address '%s' (want IP:PORT)",
			 t->address);
		return RAFT_INVALID;
	}
	t->accept_cb = cb;
	uv_tcp_init(t->loop, &t->listener);
	t->listener.data = t;
	t->listening = true;
	rv = uv_tcp_bind(&t->listener, (const struct sockaddr *)&sa, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&t->listener, 128, on_connection);
	if (rv != 0) {
		snprintf(rt->errmsg, sizeof rt->errmsg, "listen on '%s': %s", t->address,
			 uv_strerror(rv));
		uv_close((uv_handle_t *)&t->listener, listener_close_cb);
		return RAFT_IOERR;
	}
	return 0;
}

static int transport_connect(struct raft_uv_transport *rt, struct raft_uv_connect *req, raft_id id,
			     const char *address, raft_uv_connect_cb cb)
{
	struct transport *t = rt->impl;
	struct sockaddr_in sa;
	uv_tcp_t *tcp;
	struct hs *h;
	int rv;

	if (parse_addr(address, &sa) != 0) {
		snprintf(rt->errmsg, sizeof rt->errmsg, "connect to node %llu: bad address '%s'",
			 (unsigned long long)id, address);
		return RAFT_NOCONNECTION;
	}
	tcp = raft_malloc(sizeof *tcp);
	if (tcp == NULL)
		return RAFT_NOMEM;
	uv_tcp_init(t->loop, tcp);
	h = hs_new(t, tcp, true);
	if (h == NULL) {
		uv_close((uv_handle_t *)tcp, free_handle_cb);
		return RAFT_NOMEM;
	}
	snprintf(h->peer, sizeof h->peer, "%s", address);
	h->state = HS_CONNECTING;
	rv = uv_tcp_connect(&h->connect, tcp, (const struct sockaddr *)&sa, on_connect);
	if (rv != 0) {
		/* The callback must not fire: close quietly, forget req. */
		snprintf(rt->errmsg, sizeof rt->errmsg, "connect to node %llu at '%s': %s",
			 (unsigned long long)id, address, uv_strerror(rv));
		hs_fail(h, RAFT_NOCONNECTION, NULL);
		return RAFT_NOCONNECTION;
	}
	req->cb = cb;
	h->req = req;
	return 0;
}

static void transport_close(struct raft_uv_transport *rt, raft_uv_transport_close_cb cb)
{
	struct transport *t = rt->impl;
	struct hs *h;

	t->closing = true;
	t->close_cb = cb;
	if (t->listening && !uv_is_closing((uv_handle_t *)&t->listener))
		uv_close((uv_handle_t *)&t->listener, listener_close_cb);
	for (h = hs_list(t); h != NULL; h = h->next)
		hs_fail(h, RAFT_CANCELED, NULL);
	transport_maybe_closed(t);
}

int transport_init(struct transport *t, uv_loop_t *loop, const uint8_t *secret, struct logger *lg)
{
	if (loop == NULL || secret == NULL || sodium_init() < 0)
		return ERR_INVALID;
	memset(t, 0, sizeof *t);
	t->raft.version = 1;
	t->raft.impl = t;
	t->raft.init = transport_raft_init;
	t->raft.listen = transport_listen;
	t->raft.connect = transport_connect;
	t->raft.close = transport_close;
	t->loop = loop;
	memcpy(t->secret, secret, TRANSPORT_SECRET_LEN);
	t->lg = lg;
	t->handshake_ms = TRANSPORT_HANDSHAKE_MS;
	return 0;
}
