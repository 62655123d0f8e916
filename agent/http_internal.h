/*
 * What the files of the HTTP API share (agent/http.c: server, routing,
 * request tracking, replies; api_status.c, api_procs.c, api_store.c: the
 * endpoint handlers by resource).
 *
 * Request lifetime. Every request gets a `struct http_req` allocated in the
 * request's h2o memory pool with a dispose function (h2o_mem_alloc_shared),
 * so that we learn when h2o frees the request — after its response was sent,
 * or when the connection closed under it. Until then it is on the server's
 * list, which http_stop walks to end what is still pending. A request that
 * waits (long polls, ?wait=1, follows) registers an agent_watch and/or a
 * deadline; both are removed when it replies or is disposed.
 *
 * Callbacks of the agent (agent_submit, agent_read, agent_join, ...) get a
 * `struct http_call`, allocated with malloc and freed after its callback
 * fired: the callback may fire after the request is gone, and then finds
 * call->r == NULL (the dispose function cleared it) and only frees the call.
 * A request has at most one call outstanding.
 *
 * Internal endpoints between agents (DESIGN §2 forwarding), all requiring the
 * header X-Logos-Secret: the cluster secret (agent_secret(),
 * TRANSPORT_SECRET_LEN bytes) as lower- or upper-case hex, compared in
 * constant time; a missing or wrong secret is 403 {"error": "denied"}.
 *
 *   POST /v1/internal/propose_batch
 *     body: commands encoded with cmd_encode, framed as agent/forward.h says
 *     (u32 count, then u32 length and bytes of each; application/octet-stream)
 *     → 200 application/octet-stream: each command's result in order
 *       (agent/forward.h), each as `status`, `index`, `code`, `message`,
 *       `result` and `leader` below. How a follower forwards (forward.c).
 *     Every length and every command is checked before any is proposed: a
 *     bad body is 400 (413 for a command too big) naming the command and
 *     why, and proposes nothing; 503 if this node is not the leader.
 *   POST /v1/internal/propose
 *     body: one command encoded with cmd_encode (application/octet-stream)
 *     → 200 {"status": int, "index": int, "code": int, "message": str,
 *            "result": "<lower-case hex of the result's msgpack map bytes>",
 *            "leader": "<last known leader's HTTP address>" | null}
 *     `status` is agent_result.status (0: committed; else ERR_UNAVAILABLE,
 *     ERR_TIMEOUT, ...), `code` the command's result (0 accepted, else ERR_*).
 *     An HTTP status other than 200 (400 bad body, 403, 413, 503 stopping)
 *     carries the usual error JSON {"error", "message"}.
 *   POST /v1/internal/read_index
 *     → 200 {"status": int, "index": int}
 *   POST /v1/internal/heartbeat?id=N
 *     → 204
 */
#ifndef LOGOS_AGENT_HTTP_INTERNAL_H
#define LOGOS_AGENT_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o.h>
#include <jansson.h>

#include "agent/agent.h"
#include "agent/http.h"
#include "agent/http_parse.h"
#include "common/buf.h"
#include "services/command.h"
#include "services/proc.h"
#include "statestore/store.h"

struct http_req;
struct http_conn;

/* Captured segments of a route pattern: "{}" one segment, a star the rest. */
#define HTTP_CAPTURES 2

typedef void (*http_handler_fn)(struct http_req *r);

/* A route: method, pattern ("/v1/procs/{}/output" or "/v1/files/" and a
 * star), handler,
 * and the query parameters it takes besides the common ones (at, stale). */
struct http_route {
	const char *method;
	const char *pattern;
	http_handler_fn fn;
	const char *const *params;
};

struct http {
	struct agent *a;
	uv_loop_t *loop;
	h2o_globalconf_t config;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
	uv_tcp_t listener;
	uv_timer_t deadline_timer; /* the nearest deadline of a request */
	uv_timer_t final_timer;    /* only closed, to sequence the last frees */
	struct http_conn *conns;   /* open connections */
	unsigned nconns;
	struct http_req *reqs; /* live requests */
	bool ctx_ready;        /* ctx was initialised */
	bool listener_open;
	bool stopping;
	bool disposed; /* ctx disposed */
	void (*stop_cb)(void *arg);
	void *stop_arg;
};

typedef void (*http_read_fn)(struct http_req *r, struct store_txn *t);
typedef void (*http_write_fn)(struct http_req *r, const struct agent_result *res);

struct http_call {
	struct http_req *r; /* NULL once the request is gone */
	http_read_fn read;
	http_write_fn write;
	struct buf b1, b2; /* what the submitted command points to */
	char s1[CMD_PATH_MAX + 1];
	char key[CMD_KEY_MAX + 1];
};

struct http_req {
	struct http *h;
	h2o_req_t *req;
	struct http_req *prev, *next;
	const struct http_route *route;
	struct {
		const char *p;
		size_t n;
	} cap[HTTP_CAPTURES];
	const char *query; /* after '?', not NUL-terminated */
	size_t query_len;
	uint64_t at; /* ?at=, or STORE_AT_LATEST */
	bool has_at;
	bool stale;
	bool replied;  /* a response was started */
	bool watching; /* watch is registered */
	bool rewatch;  /* the watch fired while a call was outstanding */
	bool disposed;
	bool streaming; /* replied, but still watching (follow) */
	struct agent_watch watch;
	struct http_call *call;
	uint64_t deadline; /* uv_now() ms; 0: none */
	/* Set by handlers that wait. */
	void (*on_watch)(struct http_req *r, uint64_t applied);
	void (*on_deadline)(struct http_req *r);
	void (*on_stop)(struct http_req *r); /* NULL: 503 "canceled" */
	void *state;                         /* the handler's, in the pool */
};

/* Route handlers. */
void api_status(struct http_req *r);
void api_metrics(struct http_req *r);
void api_watch(struct http_req *r);
void api_log(struct http_req *r);
void api_diff(struct http_req *r);
/* api_internal.c */
void api_internal_propose(struct http_req *r);
void api_internal_propose_batch(struct http_req *r);
void api_internal_read_index(struct http_req *r);
void api_internal_heartbeat(struct http_req *r);
void api_procs_submit(struct http_req *r);
void api_procs_list(struct http_req *r);
void api_procs_get(struct http_req *r);
void api_procs_output(struct http_req *r);
void api_procs_kill(struct http_req *r);
void api_procs_step_get(struct http_req *r);
void api_procs_step_record(struct http_req *r);
void api_files_put(struct http_req *r);
void api_files_get(struct http_req *r);
void api_files_del(struct http_req *r);
void api_files_list(struct http_req *r);
void api_queues_send(struct http_req *r);
void api_queues_recv(struct http_req *r);
void api_queues_list(struct http_req *r);
void api_nodes_list(struct http_req *r);
void api_nodes_join(struct http_req *r);
void api_nodes_remove(struct http_req *r);
void api_nodes_drain(struct http_req *r);
void api_rewind(struct http_req *r);

/* Replies (each at most once per request; later calls are ignored). */

/* Sends `j` (stolen) as JSON with `status`. */
void http__reply_json(struct http_req *r, int status, json_t *j);
/* Sends {"error": err_name(code), "message": ...} with `status`. */
void http__reply_error(struct http_req *r, int status, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Sends the error of a failed store read (ERR_RANGE → 400 with the
 * store's message, ERR_NOTFOUND → 404, else 500). */
void http__reply_store_error(struct http_req *r, struct store_txn *t, int rv, const char *what);
/* 503 unavailable with the known leader. */
void http__reply_unavailable(struct http_req *r, int status);
/* The HTTP status fitting an error code. */
int http__status_of(int code);
/* Sends raw bytes (copied) with `status` and content type. */
void http__reply_raw(struct http_req *r, int status, const char *type, const void *p, size_t n);
/* Adds a response header (name lower-case; value copied). Before a reply. */
void http__header(struct http_req *r, const char *name, const char *value);
void http__header_u64(struct http_req *r, const char *name, uint64_t v);

/* Query parameters (decoded into `out` of `cap` bytes, NUL-terminated).
 * Return 0 absent-or-found (*found), or an error already replied (400). */
int http__query_str(struct http_req *r, const char *name, char *out, size_t cap, bool *found);
int http__query_u64(struct http_req *r, const char *name, uint64_t *v, bool *found);
int http__query_bool(struct http_req *r, const char *name, bool *v);

/* The request body. */
const void *http__body(struct http_req *r, size_t *n);
/* Parses the body as a JSON object of `fields`; replies 400 on error. */
int http__json_body(struct http_req *r, const struct http_field *fields, size_t nfields,
		    json_t **out);
/* The Idempotency-Key header into `out` (CMD_KEY_MAX + 1 bytes): 0 and
 * *found, or an error already replied. */
int http__idem_key(struct http_req *r, char *out, bool *found);

/* Calls. http__call_new: a call for `r` (NULL + 500 replied if out of
 * memory). The read: agent_read with r->stale (or `stale`), then fn(r, txn),
 * or 503 / 500 replied. The submit: agent_submit, then status and code errors
 * are replied here, fn only on success. */
struct http_call *http__call_new(struct http_req *r);
void http__call_free(struct http_call *c);
void http__read(struct http_req *r, bool stale, http_read_fn fn);
void http__submit(struct http_req *r, struct http_call *c, struct cmd *cmd, http_write_fn fn);
/* The callback of agent_submit / agent_join for calls made directly. */
void http__write_cb(void *arg, const struct agent_result *res);
/* Starts a command for `r`: type, principal "http", the Idempotency-Key. */
int http__cmd_init(struct http_req *r, struct http_call *c, struct cmd *cmd, uint32_t type);

/* Waiting. */
void http__watch(struct http_req *r, void (*fn)(struct http_req *r, uint64_t applied));
void http__unwatch(struct http_req *r);
void http__deadline(struct http_req *r, uint64_t ms, void (*fn)(struct http_req *r));

/* The result map of a command as a JSON object (new reference; NULL if
 * out of memory); `index` added first when non-zero. */
json_t *http__result_json(const void *p, size_t n, uint64_t index);
/* A JSON string of `n` bytes, also when they are not valid UTF-8 (invalid
 * bytes become U+FFFD). NULL only if out of memory. */
json_t *http__jstr(const char *p, size_t n);

/* Node names by id, read from one transaction. */
struct http_nodes {
	size_t n;
	struct {
		uint64_t id;
		char name[CMD_NAME_MAX + 1];
		char http[CMD_ADDR_MAX + 1];
	} * v;
};
int http__nodes_load(struct http_nodes *ns, struct store_txn *t, uint64_t at);
/* The name of node `id`, or NULL. */
const char *http__node_name(const struct http_nodes *ns, uint64_t id);
/* The id of the node named `name`, or 0. */
uint64_t http__node_id(const struct http_nodes *ns, const char *name);
void http__nodes_release(struct http_nodes *ns);

/* A row that differs between two indexes; before/after NULL: absent. */
struct http_change {
	int table;
	const void *key;
	size_t klen;
	const void *before;
	size_t blen;
	const void *after;
	size_t alen;
};

/* Calls fn for every versioned row whose value at `from` differs from its
 * value at `to` (either may be STORE_AT_LATEST), table by table in key order.
 * fn returns non-zero to stop (then returned). Errors as store_iter_init. */
int http__changes(struct store_txn *t, uint64_t from, uint64_t to,
		  int (*fn)(void *arg, const struct http_change *c), void *arg);
/* A row's key, readable (see api_status.c); a value's summary, or null. */
json_t *http__key_json(int table, const void *key, size_t klen);
json_t *http__value_summary(int table, const void *val, size_t len);

/* Helpers shared by the endpoint files. */
int http__pid_arg(struct http_req *r, unsigned i, uint64_t *pid);
int http__proc_json(const struct proc_row *p, const struct http_nodes *ns, bool full, json_t **out);

#endif /* LOGOS_AGENT_HTTP_INTERNAL_H */
