/*
 * The inter-agent HTTP client of agent/client.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/client.h"
#include "common/error.h"

struct request {
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write;
	uv_timer_t timer;
	struct buf out;
	struct buf in;
	client_cb cb;
	void *arg;
	int closing; /* handles still to close */
	bool done;
};

static int parse_addr(const char *addr, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	long port;
	char *end;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof host)
		return ERR_INVALID;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535)
		return ERR_INVALID;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return ERR_INVALID;
	return 0;
}

static int build(struct buf *out, const char *addr, const char *method, const char *path,
		 const char *headers, const void *body, size_t len, bool keep_alive)
{
	char head[1024];
	int n;

	n = snprintf(head, sizeof head,
		     "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: %s\r\nContent-Length: %zu\r\n"
		     "%s\r\n",
		     method, path, addr, keep_alive ? "keep-alive" : "close", len,
		     headers != NULL ? headers : "");
	if (n < 0 || (size_t)n >= sizeof head)
		return ERR_INVALID;
	if (buf_append(out, head, (size_t)n) != 0 || buf_append(out, body, len) != 0)
		return ERR_NOMEM;
	return 0;
}

/*
 * Parses a complete response in `in`. Returns 0 with status and body (into
 * `body`, dechunked), ERR_BUSY if more bytes are needed (unless `eof`), or
 * ERR_CORRUPT.
 */
static int parse(struct buf *in, bool eof, int *status, struct buf *body, bool *closes)
{
	const char *p, *end, *hdr_end, *line;
	long content_length = -1;
	bool chunked = false;
	int major, minor;

	/* A terminator keeps the string functions below inside the buffer. */
	if (buf_reserve(in, 1) != 0)
		return ERR_NOMEM;
	in->data[in->len] = '\0';
	p = (const char *)in->data;
	end = p + in->len;

	hdr_end = NULL;
	for (const char *q = p; q + 3 < end; q++)
		if (q[0] == '\r' && q[1] == '\n' && q[2] == '\r' && q[3] == '\n') {
			hdr_end = q + 4;
			break;
		}
	if (hdr_end == NULL)
		return eof ? ERR_CORRUPT : ERR_BUSY;
	if (sscanf(p, "HTTP/%d.%d %d", &major, &minor, status) != 3)
		return ERR_CORRUPT;
	for (line = strstr(p, "\r\n") + 2; line < hdr_end - 2; line = strstr(line, "\r\n") + 2) {
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			content_length = strtol(line + 15, NULL, 10);
		else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
			 strstr(line, "chunked") != NULL)
			chunked = true;
		else if (strncasecmp(line, "Connection:", 11) == 0 && closes != NULL &&
			 strncasecmp(line + 11 + strspn(line + 11, " \t"), "close", 5) == 0)
			*closes = true;
	}
	body->len = 0;
	if (chunked) {
		const char *q = hdr_end;
		for (;;) {
			char *after;
			unsigned long n = strtoul(q, &after, 16);
			const char *crlf = strstr(after, "\r\n");
			if (crlf == NULL || crlf >= end)
				return eof ? ERR_CORRUPT : ERR_BUSY;
			q = crlf + 2;
			if (n == 0)
				return 0;
			if ((size_t)(end - q) < n + 2)
				return eof ? ERR_CORRUPT : ERR_BUSY;
			if (buf_append(body, q, n) != 0)
				return ERR_NOMEM;
			q += n + 2;
		}
	}
	if (content_length >= 0) {
		if (end - hdr_end < content_length)
			return eof ? ERR_CORRUPT : ERR_BUSY;
		return buf_append(body, hdr_end, (size_t)content_length) != 0 ? ERR_NOMEM : 0;
	}
	if (!eof && *status != 204 && *status != 304)
		return ERR_BUSY;
	return buf_append(body, hdr_end, (size_t)(end - hdr_end)) != 0 ? ERR_NOMEM : 0;
}

static void on_closed(uv_handle_t *h)
{
	struct request *r = h->data;

	if (--r->closing == 0) {
		buf_release(&r->out);
		buf_release(&r->in);
		free(r);
	}
}

static void finish(struct request *r, int status, int http_status, const void *body, size_t len)
{
	if (r->done)
		return;
	r->done = true;
	r->cb(r->arg, status, http_status, body, len);
	r->closing = 2;
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, on_closed);
	uv_close((uv_handle_t *)&r->tcp, on_closed);
}

static void try_parse(struct request *r, bool eof)
{
	struct buf body;
	int status = 0, rv;

	buf_init(&body);
	rv = parse(&r->in, eof, &status, &body, NULL);
	if (rv == ERR_BUSY) {
		buf_release(&body);
		return;
	}
	if (rv != 0)
		finish(r, rv, 0, NULL, 0);
	else
		finish(r, 0, status, body.data, body.len);
	buf_release(&body);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct request *r = h->data;

	if (buf_reserve(&r->in, 65536) != 0) {
		b->base = NULL;
		b->len = 0;
		return;
	}
	b->base = (char *)r->in.data + r->in.len;
	b->len = r->in.cap - r->in.len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct request *r = s->data;

	if (r->done)
		return;
	if (n > 0) {
		r->in.len += (size_t)n;
		if (r->in.len > CLIENT_BODY_MAX + 65536) {
			finish(r, ERR_TOOBIG, 0, NULL, 0);
			return;
		}
		try_parse(r, false);
	} else if (n == UV_EOF) {
		try_parse(r, true);
	} else if (n < 0) {
		finish(r, ERR_UNAVAILABLE, 0, NULL, 0);
	}
}

static void on_write(uv_write_t *w, int status)
{
	struct request *r = w->data;

	if (status != 0 && !r->done)
		finish(r, ERR_UNAVAILABLE, 0, NULL, 0);
}

static void on_connect(uv_connect_t *c, int status)
{
	struct request *r = c->data;
	uv_buf_t b;

	if (r->done)
		return;
	if (status != 0) {
		finish(r, ERR_UNAVAILABLE, 0, NULL, 0);
		return;
	}
	uv_tcp_nodelay(&r->tcp, 1);
	b = uv_buf_init((char *)r->out.data, (unsigned)r->out.len);
	r->write.data = r;
	if (uv_write(&r->write, (uv_stream_t *)&r->tcp, &b, 1, on_write) != 0 ||
	    uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read) != 0)
		finish(r, ERR_UNAVAILABLE, 0, NULL, 0);
}

static void on_timeout(uv_timer_t *t)
{
	finish(t->data, ERR_TIMEOUT, 0, NULL, 0);
}

int client_request(uv_loop_t *loop, const char *addr, const char *method, const char *path,
		   const char *headers, const void *body, size_t len, unsigned timeout_ms,
		   client_cb cb, void *arg)
{
	struct sockaddr_in sa;
	struct request *r;
	int rv;

	rv = parse_addr(addr, &sa);
	if (rv != 0)
		return rv;
	r = calloc(1, sizeof *r);
	if (r == NULL)
		return ERR_NOMEM;
	buf_init(&r->out);
	buf_init(&r->in);
	rv = build(&r->out, addr, method, path, headers, body, len, false);
	if (rv != 0) {
		buf_release(&r->out);
		free(r);
		return rv;
	}
	r->cb = cb;
	r->arg = arg;
	uv_tcp_init(loop, &r->tcp);
	uv_timer_init(loop, &r->timer);
	r->tcp.data = r->timer.data = r->connect.data = r;
	uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
	if (uv_tcp_connect(&r->connect, &r->tcp, (const struct sockaddr *)&sa, on_connect) != 0) {
		/* Report through the callback on a later turn: the timer. */
		uv_timer_start(&r->timer, on_timeout, 0, 0);
	}
	return 0;
}

/* ---- Kept-alive connections ------------------------------------------ */

struct client_conn {
	uv_loop_t *loop;
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write;
	uv_timer_t timer;
	struct sockaddr_in sa;
	char addr[64];
	struct buf out; /* the request being sent */
	struct buf in;  /* the answer so far */
	client_cb cb;   /* of the request in flight; NULL: idle */
	void *arg;
	uint64_t last_used; /* uv_now when the last answer arrived */
	size_t max_answer;  /* bytes */
	int closing;        /* handles still to close */
	bool connected, connecting, writing;
	bool broken;   /* closed or closing: never used again */
	bool released; /* the owner let go: freed when the handles are closed */
};

static void conn_free(struct client_conn *c)
{
	buf_release(&c->out);
	buf_release(&c->in);
	free(c);
}

static void conn_closed(uv_handle_t *h)
{
	struct client_conn *c = h->data;

	if (--c->closing == 0 && c->released)
		conn_free(c);
}

/* Closes the connection for good; a request in flight gets `status`. */
static void conn_break(struct client_conn *c, int status)
{
	client_cb cb = c->cb;

	if (c->broken)
		return;
	c->broken = true;
	c->cb = NULL;
	c->closing = 2;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_closed);
	uv_close((uv_handle_t *)&c->tcp, conn_closed);
	if (cb != NULL)
		cb(c->arg, status, 0, NULL, 0);
}

static void conn_try_parse(struct client_conn *c, bool eof)
{
	struct buf body;
	client_cb cb;
	bool closes = false;
	int status = 0, rv;

	buf_init(&body);
	rv = parse(&c->in, eof, &status, &body, &closes);
	if (rv == ERR_BUSY) {
		buf_release(&body);
		return;
	}
	if (rv != 0) {
		buf_release(&body);
		conn_break(c, rv);
		return;
	}
	cb = c->cb;
	c->cb = NULL;
	c->in.len = 0;
	c->last_used = uv_now(c->loop);
	uv_timer_stop(&c->timer);
	/* An answer that came before the whole request was written (an early
	 * 413), or a server that closes: the connection is done. */
	if (closes || eof || c->writing)
		conn_break(c, 0);
	cb(c->arg, 0, status, body.data, body.len);
	buf_release(&body);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct client_conn *c = h->data;

	(void)suggested;
	if (buf_reserve(&c->in, 65536) != 0) {
		b->base = NULL;
		b->len = 0;
		return;
	}
	b->base = (char *)c->in.data + c->in.len;
	b->len = c->in.cap - c->in.len;
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct client_conn *c = s->data;

	(void)b;
	if (c->broken)
		return;
	if (n > 0) {
		c->in.len += (size_t)n;
		if (c->cb == NULL) /* nothing was asked */
			conn_break(c, ERR_CORRUPT);
		else if (c->in.len > c->max_answer + 65536)
			conn_break(c, ERR_TOOBIG);
		else
			conn_try_parse(c, false);
	} else if (n == UV_EOF && c->cb != NULL && c->in.len > 0) {
		conn_try_parse(c, true);
		if (!c->broken) /* parsed, or still short */
			conn_break(c, ERR_CORRUPT);
	} else if (n < 0) {
		/* Closed while idle (the server's keep-alive timeout), reset,
		 * or closed before any answer: the outcome of a request in
		 * flight is unknown. */
		conn_break(c, ERR_UNAVAILABLE);
	}
}

static void conn_written(uv_write_t *w, int status)
{
	struct client_conn *c = w->data;

	c->writing = false;
	if (status != 0)
		conn_break(c, ERR_UNAVAILABLE);
}

static int conn_send(struct client_conn *c)
{
	uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);

	c->write.data = c;
	if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, conn_written) != 0)
		return ERR_UNAVAILABLE;
	c->writing = true;
	return 0;
}

static void conn_connected(uv_connect_t *req, int status)
{
	struct client_conn *c = req->data;

	c->connecting = false;
	if (c->broken)
		return;
	if (status != 0) {
		conn_break(c, ERR_UNAVAILABLE);
		return;
	}
	c->connected = true;
	uv_tcp_nodelay(&c->tcp, 1);
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) != 0 ||
	    (c->cb != NULL && conn_send(c) != 0))
		conn_break(c, ERR_UNAVAILABLE);
}

static void conn_timeout(uv_timer_t *t)
{
	conn_break(t->data, ERR_TIMEOUT);
}

int client_conn_new(uv_loop_t *loop, const char *addr, size_t max_answer, struct client_conn **out)
{
	struct client_conn *c;
	int rv;

	if (strlen(addr) >= sizeof c->addr)
		return ERR_INVALID;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return ERR_NOMEM;
	rv = parse_addr(addr, &c->sa);
	if (rv != 0) {
		free(c);
		return rv;
	}
	c->loop = loop;
	c->max_answer = max_answer;
	strcpy(c->addr, addr);
	buf_init(&c->out);
	buf_init(&c->in);
	uv_tcp_init(loop, &c->tcp);
	uv_timer_init(loop, &c->timer);
	c->tcp.data = c->timer.data = c->connect.data = c;
	c->last_used = uv_now(loop);
	*out = c;
	return 0;
}

bool client_conn_is_reusable(const struct client_conn *c, const char *addr)
{
	return !c->broken && c->cb == NULL && strcmp(c->addr, addr) == 0 &&
	       uv_now(c->loop) - c->last_used < CLIENT_IDLE_MS;
}

int client_conn_request(struct client_conn *c, const char *method, const char *path,
			const char *headers, const void *body, size_t len, unsigned timeout_ms,
			client_cb cb, void *arg)
{
	int rv;

	if (c->broken)
		return ERR_UNAVAILABLE;
	if (c->cb != NULL)
		return ERR_BUSY;
	c->out.len = 0;
	rv = build(&c->out, c->addr, method, path, headers, body, len, true);
	if (rv != 0)
		return rv;
	if (c->connected) {
		rv = conn_send(c);
	} else if (!c->connecting) {
		rv = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&c->sa,
				    conn_connected) != 0
			     ? ERR_UNAVAILABLE
			     : 0;
		c->connecting = rv == 0;
	}
	if (rv != 0) {
		conn_break(c, 0);
		return rv;
	}
	c->cb = cb;
	c->arg = arg;
	uv_timer_start(&c->timer, conn_timeout, timeout_ms, 0);
	return 0;
}

void client_conn_release(struct client_conn *c)
{
	c->released = true;
	if (!c->broken)
		conn_break(c, ERR_CANCELED);
	else if (c->closing == 0)
		conn_free(c);
}

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

int client_request_sync(const char *addr, const char *method, const char *path, const char *headers,
			const void *body, size_t len, unsigned timeout_ms, int *http_status,
			struct buf *resp, char *err, size_t errlen)
{
	struct sockaddr_in sa;
	struct timespec deadline;
	struct buf out, in;
	struct pollfd pfd;
	size_t sent = 0;
	ssize_t n;
	int fd, rv;

	if (parse_addr(addr, &sa) != 0)
		return err_set(err, errlen, ERR_INVALID, "bad address '%s' (expected IP:PORT)",
			       addr);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, errlen, ERR_IO, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		rv = err_set(err, errlen, ERR_UNAVAILABLE, "cannot connect to %s: %s", addr,
			     strerror(errno));
		close(fd);
		return rv;
	}
	buf_init(&out);
	buf_init(&in);
	rv = build(&out, addr, method, path, headers, body, len, false);
	while (rv == 0 && sent < out.len) {
		n = write(fd, out.data + sent, out.len - sent);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rv = err_set(err, errlen, ERR_UNAVAILABLE, "write to %s: %s", addr,
				     strerror(errno));
		else
			sent += (size_t)n;
	}
	while (rv == 0) {
		long left = ms_left(&deadline);
		if (left <= 0) {
			rv = err_set(err, errlen, ERR_TIMEOUT, "no answer from %s within %u ms",
				     addr, timeout_ms);
			break;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if (buf_reserve(&in, 65536) != 0) {
			rv = ERR_NOMEM;
			break;
		}
		n = read(fd, in.data + in.len, in.cap - in.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = err_set(err, errlen, ERR_UNAVAILABLE, "read from %s: %s", addr,
				     strerror(errno));
			break;
		}
		in.len += (size_t)n;
		rv = parse(&in, n == 0, http_status, resp, NULL);
		if (rv == ERR_BUSY) {
			rv = 0;
			if (in.len > CLIENT_BODY_MAX + 65536)
				rv = err_set(err, errlen, ERR_TOOBIG, "answer from %s too big",
					     addr);
			continue;
		}
		if (rv != 0)
			err_set(err, errlen, rv, "bad answer from %s", addr);
		break;
	}
	close(fd);
	buf_release(&out);
	buf_release(&in);
	return rv;
}
