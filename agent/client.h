/*
 * A small HTTP/1.1 client for what agents say to each other (forwarded writes,
 * read barriers, heartbeats) and for joining a cluster: one request per
 * connection (Connection: close, client_request), or one request at a time
 * on a kept-alive connection (client_conn, how a follower forwards writes to
 * the leader). Bodies up to CLIENT_BODY_MAX.
 */
#ifndef LOGOS_AGENT_CLIENT_H
#define LOGOS_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "common/buf.h"

#define CLIENT_BODY_MAX (4u << 20)
/* A kept-alive connection idle this long is not reused: h2o closes idle
 * connections after 10 s, and a request sent as the server closes would be
 * lost with an unknown outcome. */
#define CLIENT_IDLE_MS  5000

/* cb(arg, status, http_status, body, len): status 0 with the response, or
 * ERR_UNAVAILABLE (cannot connect), ERR_TIMEOUT, ERR_CORRUPT (bad response),
 * ERR_CANCELED. The body is borrowed for the call. */
typedef void (*client_cb)(void *arg, int status, int http_status, const void *body, size_t len);

/*
 * Sends `method` `path` to `addr` ("IP:PORT") with `body` (may be NULL) and the
 * extra header lines `headers` (each "Name: value\r\n", may be NULL), giving up
 * after timeout_ms. Returns 0 (cb fires once) or an error (cb never fires).
 */
int client_request(uv_loop_t *loop, const char *addr, const char *method, const char *path,
		   const char *headers, const void *body, size_t len, unsigned timeout_ms,
		   client_cb cb, void *arg);

/*
 * A kept-alive connection to `addr` ("IP:PORT"), connected at its first
 * request, taking answers of up to `max_answer` bytes of body. Returns 0 and *out (owned by the caller until client_conn_release),
 * ERR_INVALID (bad address) or ERR_NOMEM. Runs on `loop`.
 */
struct client_conn;
int client_conn_new(uv_loop_t *loop, const char *addr, size_t max_answer, struct client_conn **out);

/*
 * Sends one request on `c`, as client_request does; at most one is in flight.
 * cb fires once with the answer, or with ERR_UNAVAILABLE (cannot connect; the
 * connection closed or failed: the outcome is unknown), ERR_TIMEOUT (after
 * timeout_ms), ERR_CORRUPT, ERR_TOOBIG, or ERR_CANCELED (released). After any
 * error the connection is closed for good (client_conn_is_reusable turns
 * false). `cb` may send the next request or release `c`. Returns 0 (cb will
 * fire), ERR_BUSY (a request is in flight), or ERR_UNAVAILABLE / ERR_NOMEM /
 * ERR_INVALID (cb will not fire).
 */
int client_conn_request(struct client_conn *c, const char *method, const char *path,
			const char *headers, const void *body, size_t len, unsigned timeout_ms,
			client_cb cb, void *arg);

/* Whether `c` is open (or not yet connected), idle, connected to `addr` and
 * has been idle for less than CLIENT_IDLE_MS: a request may go on it. */
bool client_conn_is_reusable(const struct client_conn *c, const char *addr);

/* Lets go of `c`: a request in flight gets ERR_CANCELED (during this call);
 * the connection is closed and its memory freed after libuv's close
 * callbacks. `c` must not be used after. */
void client_conn_release(struct client_conn *c);

/* The same, blocking, outside any loop (used before the agent's loop runs).
 * Fills `resp` with the body; returns 0 and *http_status, or an error with a
 * message in err. */
int client_request_sync(const char *addr, const char *method, const char *path, const char *headers,
			const void *body, size_t len, unsigned timeout_ms, int *http_status,
			struct buf *resp, char *err, size_t errlen);

#endif /* LOGOS_AGENT_CLIENT_H */
