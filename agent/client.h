/*
 * A small HTTP/1.1 client for what agents say to each other (forwarded writes,
 * read barriers, heartbeats) and for joining a cluster. One request per
 * connection (Connection: close); bodies up to CLIENT_BODY_MAX.
 */
#ifndef LOGOS_AGENT_CLIENT_H
#define LOGOS_AGENT_CLIENT_H

#include <stddef.h>

#include <uv.h>

#include "common/buf.h"

#define CLIENT_BODY_MAX (4u << 20)

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

/* The same, blocking, outside any loop (used before the agent's loop runs).
 * Fills `resp` with the body; returns 0 and *http_status, or an error with a
 * message in err. */
int client_request_sync(const char *addr, const char *method, const char *path, const char *headers,
			const void *body, size_t len, unsigned timeout_ms, int *http_status,
			struct buf *resp, char *err, size_t errlen);

#endif /* LOGOS_AGENT_CLIENT_H */
