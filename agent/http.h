/*
 * The HTTP/1.1 JSON API of DESIGN §6, on h2o (libuv) with jansson, served by
 * every agent. Bad input — malformed JSON, wrong types, unknown fields,
 * oversized bodies, unknown endpoints, invalid paths or pids — gets a 4xx with
 * {"error": "<code>", "message": "<what failed and why>"}; nothing crashes and
 * nothing is half-applied.
 */
#ifndef LOGOS_AGENT_HTTP_H
#define LOGOS_AGENT_HTTP_H

#include <uv.h>

struct agent;
struct http;

#define HTTP_BODY_MAX (2u << 20) /* bytes of a request body */

/* Listens on `addr` ("IP:PORT") on `loop`. Returns 0 or an error with a
 * message in `err`. *out is allocated and owned by the http module. */
int http_start(struct http **out, struct agent *a, uv_loop_t *loop, const char *addr, char *err,
	       size_t errlen);

/* Stops listening, ends open requests (long polls and follows end), closes
 * every handle; cb when the memory is released. */
void http_stop(struct http *h, void (*cb)(void *arg), void *arg);

#endif /* LOGOS_AGENT_HTTP_H */
