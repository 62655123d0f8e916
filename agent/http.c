/*
 * The HTTP server of agent/http.h on h2o (libuv): the listener and its
 * connections, one catch-all handler routing with a table (method, pattern,
 * handler) in the manner of ospfctl's parser, the tracking of live requests
 * (agent/http_internal.h), the reply and query helpers, calls into the agent,
 * and the stop sequence.
 *
 * Stopping (http_stop): the listener closes; h2o is asked to stop keeping
 * connections alive; every request still waiting is ended (long polls get
 * 503 "canceled", follows end their stream); idle keep-alive connections are
 * shut down for reading, which h2o sees as the peer closing. When the last
 * connection has closed, the h2o context is disposed and the memory freed on
 * a later loop turn (h2o closes its timers without a callback, so the loop
 * must run their close before their memory goes; see ctx_dispose).
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/http_internal.h"
#include "common/error.h"
#include "common/pack.h"
#include "services/nodes.h"

struct http_conn {
	uv_tcp_t tcp;
	struct http *h;
	struct http_conn *prev, *next;
};

struct http_handler {
	h2o_handler_t super;
	struct http *h;
};

/* Common query parameters of every route. */
static const char *const no_params[] = {NULL};
static const char *const p_list[] = {"prefix", NULL};
static const char *const p_put[] = {"if_version", NULL};
static const char *const p_submit[] = {"wait", NULL};
static const char *const p_procs[] = {"state", NULL};
static const char *const p_output[] = {"attempt", "stream", "seq", "follow", NULL};
static const char *const p_recv[] = {"wait", NULL};
static const char *const p_log[] = {"from", "limit", NULL};
static const char *const p_rewind[] = {"plan", "limit", NULL};
static const char *const p_diff[] = {"from", "to", "limit", NULL};
static const char *const p_watch[] = {"index", "timeout", NULL};
static const char *const p_heartbeat[] = {"id", NULL};

/* The routes of DESIGN §6. "{}" captures a segment, "*" the rest. */
static const struct http_route routes[] = {
	{"GET", "/v1/status", api_status, no_params},
	{"GET", "/metrics", api_metrics, no_params},
	{"GET", "/v1/watch", api_watch, p_watch},
	{"GET", "/v1/log", api_log, p_log},
	{"GET", "/v1/diff", api_diff, p_diff},
	{"POST", "/v1/rewind", api_rewind, p_rewind},
	{"GET", "/v1/nodes", api_nodes_list, no_params},
	{"POST", "/v1/nodes", api_nodes_join, no_params},
	{"DELETE", "/v1/nodes/{}", api_nodes_remove, no_params},
	{"POST", "/v1/nodes/{}/drain", api_nodes_drain, no_params},
	{"POST", "/v1/procs", api_procs_submit, p_submit},
	{"GET", "/v1/procs", api_procs_list, p_procs},
	{"GET", "/v1/procs/{}", api_procs_get, no_params},
	{"GET", "/v1/procs/{}/output", api_procs_output, p_output},
	{"POST", "/v1/procs/{}/kill", api_procs_kill, no_params},
	{"GET", "/v1/procs/{}/steps/{}", api_procs_step_get, no_params},
	{"POST", "/v1/procs/{}/steps/{}", api_procs_step_record, no_params},
	{"GET", "/v1/files", api_files_list, p_list},
	{"PUT", "/v1/files/*", api_files_put, p_put},
	{"GET", "/v1/files/*", api_files_get, no_params},
	{"DELETE", "/v1/files/*", api_files_del, p_put},
	{"GET", "/v1/queues", api_queues_list, no_params},
	{"POST", "/v1/queues/{}", api_queues_send, no_params},
	{"POST", "/v1/queues/{}/recv", api_queues_recv, p_recv},
	{"POST", "/v1/internal/propose", api_internal_propose, no_params},
	{"POST", "/v1/internal/propose_batch", api_internal_propose_batch, no_params},
	{"POST", "/v1/internal/read_index", api_internal_read_index, no_params},
	{"POST", "/v1/internal/heartbeat", api_internal_heartbeat, p_heartbeat},
};

#define N_ROUTES (sizeof routes / sizeof routes[0])

static void check_closed(struct http *h);
static void deadline_update(struct http *h);

/* ---- Routing ---------------------------------------------------------- */

/* Matches `path` (n bytes, no query) against `pattern`; fills captures. */
static bool match(const char *pattern, const char *path, size_t n, struct http_req *r)
{
	const char *p = pattern;
	size_t i = 0;
	unsigned ncap = 0;

	while (*p != '\0') {
		if (p[0] == '*') {
			if (i >= n || ncap == HTTP_CAPTURES)
				return false;
			r->cap[ncap].p = path + i;
			r->cap[ncap].n = n - i;
			return true;
		}
		if (p[0] == '{' && p[1] == '}') {
			size_t j = i;

			while (j < n && path[j] != '/')
				j++;
			if (j == i || ncap == HTTP_CAPTURES)
				return false;
			r->cap[ncap].p = path + i;
			r->cap[ncap].n = j - i;
			ncap++;
			i = j;
			p += 2;
			continue;
		}
		if (i >= n || path[i] != *p)
			return false;
		i++;
		p++;
	}
	return i == n;
}

static bool method_is(const h2o_req_t *req, const char *m)
{
	size_t n = strlen(m);

	return req->method.len == n && memcmp(req->method.base, m, n) == 0;
}

/* Reads ?at= and ?stale=, and rejects unknown parameters. */
static int common_params(struct http_req *r)
{
	static const char *const common[] = {"at", "stale"};
	const char *const *own = r->route->params;
	const char *allowed[16];
	size_t k = 0, i;
	char err[256];
	bool found;

	for (i = 0; i < 2; i++)
		allowed[k++] = common[i];
	for (i = 0; own[i] != NULL && k < 15; i++)
		allowed[k++] = own[i];
	allowed[k] = NULL;
	if (http_query_check(r->query, r->query_len, allowed, err, sizeof err) != 0) {
		http__reply_error(r, 400, ERR_INVALID, "%s", err);
		return ERR_INVALID;
	}
	if (http__query_u64(r, "at", &r->at, &r->has_at) != 0)
		return ERR_INVALID;
	if (!r->has_at)
		r->at = STORE_AT_LATEST;
	else if (!method_is(r->req, "GET")) {
		http__reply_error(r, 400, ERR_INVALID, "?at= is only for reads (GET)");
		return ERR_INVALID;
	}
	if (http__query_bool(r, "stale", &r->stale) != 0)
		return ERR_INVALID;
	(void)found;
	return 0;
}

static void req_dispose(void *p)
{
	struct http_req *r = p;
	struct http *h = r->h;

	r->disposed = true;
	if (r->watching)
		agent_watch_remove(h->a, &r->watch);
	r->watching = false;
	if (r->call != NULL)
		r->call->r = NULL;
	r->call = NULL;
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct http *h = ((struct http_handler *)self)->h;
	const struct http_route *path_match = NULL;
	struct http_req *r;
	size_t plen, i;

	r = h2o_mem_alloc_shared(&req->pool, sizeof *r, req_dispose);
	memset(r, 0, sizeof *r);
	r->h = h;
	r->req = req;
	r->at = STORE_AT_LATEST;
	r->next = h->reqs;
	if (h->reqs != NULL)
		h->reqs->prev = r;
	h->reqs = r;
	/* Linked to the pool with the only reference: req_dispose runs when
	 * h2o clears the pool, whether the response was sent or not. */

	plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
	if (req->query_at != SIZE_MAX) {
		r->query = req->path.base + req->query_at + 1;
		r->query_len = req->path.len - req->query_at - 1;
	} else {
		r->query = "";
	}
	if (h->stopping) {
		req->http1_is_persistent = 0;
		http__reply_error(r, 503, ERR_CANCELED, "the agent is stopping");
		return 0;
	}
	for (i = 0; i < N_ROUTES; i++) {
		if (!match(routes[i].pattern, req->path.base, plen, r))
			continue;
		if (!method_is(req, routes[i].method)) {
			path_match = &routes[i];
			continue;
		}
		r->route = &routes[i];
		if (common_params(r) != 0)
			return 0;
		routes[i].fn(r);
		return 0;
	}
	if (path_match != NULL)
		http__reply_error(r, 405, ERR_UNSUPPORTED, "method %.*s is not allowed on %.*s",
				  (int)(req->method.len < 16 ? req->method.len : 16),
				  req->method.base, (int)(plen < 200 ? plen : 200), req->path.base);
	else
		http__reply_error(r, 404, ERR_NOTFOUND, "no endpoint %.*s %.*s",
				  (int)(req->method.len < 16 ? req->method.len : 16),
				  req->method.base, (int)(plen < 200 ? plen : 200), req->path.base);
	return 0;
}

/* ---- Replies ---------------------------------------------------------- */

/* Marks `r` answered: no more watch or deadline. */
static void req_done(struct http_req *r)
{
	r->replied = true;
	http__unwatch(r);
	r->deadline = 0;
	if (r->h->stopping)
		r->req->http1_is_persistent = 0;
}

void http__header(struct http_req *r, const char *name, const char *value)
{
	h2o_req_t *req = r->req;
	size_t n = strlen(value);
	char *v = h2o_mem_alloc_pool(&req->pool, n + 1);

	memcpy(v, value, n + 1);
	h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, v, n);
}

void http__header_u64(struct http_req *r, const char *name, uint64_t v)
{
	char s[24];

	snprintf(s, sizeof s, "%" PRIu64, v);
	http__header(r, name, s);
}

static const char *reason_of(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 507:
		return "Insufficient Storage";
	default:
		return "Status";
	}
}

void http__reply_raw(struct http_req *r, int status, const char *type, const void *p, size_t n)
{
	h2o_req_t *req = r->req;

	if (r->replied || r->disposed)
		return;
	req_done(r);
	req->res.status = status;
	req->res.reason = reason_of(status);
	if (type != NULL)
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type,
			       strlen(type));
	req->res.content_length = n;
	h2o_send_inline(req, n > 0 ? p : "", n);
}

void http__reply_json(struct http_req *r, int status, json_t *j)
{
	h2o_req_t *req = r->req;
	size_t n;
	char *p;

	if (j == NULL) {
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		return;
	}
	if (r->replied || r->disposed) {
		json_decref(j);
		return;
	}
	n = json_dumpb(j, NULL, 0, JSON_COMPACT);
	p = h2o_mem_alloc_pool(&req->pool, n + 1);
	if (n > 0)
		json_dumpb(j, p, n, JSON_COMPACT);
	p[n] = '\n';
	json_decref(j);
	http__reply_raw(r, status, "application/json", p, n + 1);
}

void http__reply_error(struct http_req *r, int status, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	json_t *j;

	if (r->replied || r->disposed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	j = json_object();
	if (j == NULL) {
		http__reply_raw(r, 500, "text/plain", "out of memory\n", 14);
		return;
	}
	json_object_set_new(j, "error", json_string(err_name(code)));
	json_object_set_new(j, "message", http__jstr(msg, strlen(msg)));
	if (status == 503 && code == ERR_UNAVAILABLE) {
		struct agent_status st;

		agent_status(r->h->a, &st);
		json_object_set_new(j, "leader",
				    st.leader_http != NULL
					    ? http__jstr(st.leader_http, strlen(st.leader_http))
					    : json_null());
	}
	http__reply_json(r, status, j);
}

void http__reply_unavailable(struct http_req *r, int status)
{
	struct agent_status st;

	agent_status(r->h->a, &st);
	if (status == ERR_TIMEOUT)
		http__reply_error(r, 504, ERR_TIMEOUT,
				  "timed out waiting for the leader (term %" PRIu64 ")", st.term);
	else if (status == ERR_CANCELED)
		http__reply_error(r, 503, ERR_CANCELED, "canceled: the agent is stopping");
	else if (st.leader_http != NULL)
		http__reply_error(r, 503, ERR_UNAVAILABLE,
				  "no leader reachable (last known leader %s, term %" PRIu64 ")",
				  st.leader_http, st.term);
	else
		http__reply_error(r, 503, ERR_UNAVAILABLE,
				  "no leader known (term %" PRIu64 "): is a quorum up?", st.term);
}

int http__status_of(int code)
{
	switch (code) {
	case ERR_NOTFOUND:
		return 404;
	case ERR_INVALID:
	case ERR_RANGE:
		return 400;
	case ERR_TOOBIG:
		return 413;
	case ERR_CONFLICT:
	case ERR_EXISTS:
		return 409;
	case ERR_BUSY:
	case ERR_UNAVAILABLE:
	case ERR_NOTLEADER:
	case ERR_CANCELED:
		return 503;
	case ERR_FULL:
		return 507;
	case ERR_DENIED:
		return 403;
	case ERR_TIMEOUT:
		return 504;
	default:
		return 500;
	}
}

void http__reply_store_error(struct http_req *r, struct store_txn *t, int rv, const char *what)
{
	if (rv == ERR_RANGE)
		http__reply_error(r, 400, ERR_RANGE, "%s", t->s->errmsg);
	else if (rv == ERR_NOTFOUND)
		http__reply_error(r, 404, ERR_NOTFOUND, "%s: not found", what);
	else if (rv == ERR_CORRUPT)
		http__reply_error(r, 500, ERR_CORRUPT, "%s: a stored row is corrupt", what);
	else
		http__reply_error(r, http__status_of(rv), rv, "%s: %s", what, t->s->errmsg);
}

json_t *http__jstr(const char *p, size_t n)
{
	json_t *j;
	char *c;
	size_t i, o = 0;

	if (http_utf8_valid(p, n))
		return json_stringn(p, n);
	/* Each invalid byte becomes U+FFFD (3 bytes). */
	c = malloc(3 * n + 1);
	if (c == NULL)
		return NULL;
	i = 0;
	while (i < n) {
		size_t k;

		for (k = 1; k <= 4 && i + k <= n; k++)
			if (http_utf8_valid(p + i, k))
				break;
		if (k <= 4 && i + k <= n) {
			memcpy(c + o, p + i, k);
			o += k;
			i += k;
		} else {
			memcpy(c + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	j = json_stringn(c, o);
	free(c);
	return j;
}

/* ---- Query, body, headers --------------------------------------------- */

int http__query_str(struct http_req *r, const char *name, char *out, size_t cap, bool *found)
{
	const char *v;
	size_t vn, n;
	char err[200];

	*found = false;
	if (!http_query_find(r->query, r->query_len, name, &v, &vn)) {
		out[0] = '\0';
		return 0;
	}
	if (http_pct_decode(v, vn, true, out, cap - 1, &n, err, sizeof err) != 0) {
		http__reply_error(r, 400, ERR_INVALID, "query parameter '%s': %s", name, err);
		return ERR_INVALID;
	}
	out[n] = '\0';
	*found = true;
	return 0;
}

int http__query_u64(struct http_req *r, const char *name, uint64_t *v, bool *found)
{
	char s[32], err[200];
	int rv;

	rv = http__query_str(r, name, s, sizeof s, found);
	if (rv != 0 || !*found)
		return rv;
	if (http_u64_parse(s, strlen(s), name, v, err, sizeof err) != 0) {
		http__reply_error(r, 400, ERR_INVALID, "query parameter %s", err);
		return ERR_INVALID;
	}
	return 0;
}

int http__query_bool(struct http_req *r, const char *name, bool *v)
{
	char s[16], err[200];
	bool found;
	int rv;

	*v = false;
	rv = http__query_str(r, name, s, sizeof s, &found);
	if (rv != 0 || !found)
		return rv;
	if (http_bool_parse(s, strlen(s), name, v, err, sizeof err) != 0) {
		http__reply_error(r, 400, ERR_INVALID, "query parameter %s", err);
		return ERR_INVALID;
	}
	return 0;
}

const void *http__body(struct http_req *r, size_t *n)
{
	if (r->req->entity.base == NULL) {
		*n = 0;
		return "";
	}
	*n = r->req->entity.len;
	return r->req->entity.base;
}

int http__json_body(struct http_req *r, const struct http_field *fields, size_t nfields,
		    json_t **out)
{
	char err[300];
	const void *p;
	size_t n;
	int rv;

	p = http__body(r, &n);
	rv = http_json_body(p, n, fields, nfields, out, err, sizeof err);
	if (rv != 0)
		http__reply_error(r, rv == ERR_NOMEM ? 500 : 400, rv, "%s", err);
	return rv;
}

int http__idem_key(struct http_req *r, char *out, bool *found)
{
	const h2o_headers_t *hs = &r->req->headers;
	ssize_t i;
	size_t n;

	*found = false;
	out[0] = '\0';
	i = h2o_find_header_by_str(hs, H2O_STRLIT("idempotency-key"), -1);
	if (i == -1)
		return 0;
	n = hs->entries[i].value.len;
	if (n == 0 || n > CMD_KEY_MAX) {
		http__reply_error(r, 400, ERR_INVALID,
				  "Idempotency-Key must be 1..%d bytes, not %zu", CMD_KEY_MAX, n);
		return ERR_INVALID;
	}
	if (memchr(hs->entries[i].value.base, '\0', n) != NULL) {
		http__reply_error(r, 400, ERR_INVALID, "Idempotency-Key contains a NUL byte");
		return ERR_INVALID;
	}
	memcpy(out, hs->entries[i].value.base, n);
	out[n] = '\0';
	*found = true;
	return 0;
}

/* ---- Calls into the agent --------------------------------------------- */

struct http_call *http__call_new(struct http_req *r)
{
	struct http_call *c = calloc(1, sizeof *c);

	if (c == NULL) {
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		return NULL;
	}
	c->r = r;
	r->call = c;
	return c;
}

void http__call_free(struct http_call *c)
{
	if (c->r != NULL && c->r->call == c)
		c->r->call = NULL;
	buf_release(&c->b1);
	buf_release(&c->b2);
	free(c);
}

/* After a call's callback: a watch that fired meanwhile is run now. */
static void call_done(struct http_req *r)
{
	if (r == NULL || r->replied || !r->rewatch || !r->watching || r->on_watch == NULL)
		return;
	r->rewatch = false;
	r->on_watch(r, 0);
}

static void read_cb(void *arg, int status, struct store_txn *t)
{
	struct http_call *c = arg;
	struct http_req *r = c->r;
	http_read_fn fn = c->read;

	http__call_free(c);
	if (r == NULL || r->replied)
		return;
	if (status != 0 || t == NULL)
		http__reply_unavailable(r, status != 0 ? status : ERR_UNAVAILABLE);
	else
		fn(r, t);
	call_done(r);
}

void http__read(struct http_req *r, bool stale, http_read_fn fn)
{
	struct http_call *c;
	int rv;

	c = http__call_new(r);
	if (c == NULL)
		return;
	c->read = fn;
	rv = agent_read(r->h->a, stale, read_cb, c);
	if (rv != 0) {
		http__call_free(c);
		if (rv == ERR_UNAVAILABLE || rv == ERR_CANCELED || rv == ERR_TIMEOUT)
			http__reply_unavailable(r, rv);
		else
			http__reply_error(r, http__status_of(rv), rv, "read: %s", err_str(rv));
	}
}

void http__write_cb(void *arg, const struct agent_result *res)
{
	struct http_call *c = arg;
	struct http_req *r = c->r;
	http_write_fn fn = c->write;

	http__call_free(c);
	if (r == NULL || r->replied)
		return;
	if (res->status != 0) {
		http__reply_unavailable(r, res->status);
	} else if (res->code != 0) {
		int code = res->code > 0 && res->code < ERR__COUNT ? (int)res->code : ERR_INTERNAL;

		if (res->message_len > 0)
			http__reply_error(r, http__status_of(code), code, "%.*s",
					  (int)res->message_len, res->message);
		else
			http__reply_error(r, http__status_of(code), code, "%s", err_str(code));
	} else if (fn != NULL) {
		fn(r, res);
	} else {
		http__reply_json(r, 200,
				 http__result_json(res->result, res->result_len, res->index));
	}
	call_done(r);
}

int http__cmd_init(struct http_req *r, struct http_call *c, struct cmd *cmd, uint32_t type)
{
	bool found;
	int rv;

	memset(cmd, 0, sizeof *cmd);
	cmd->type = type;
	cmd->principal.p = "http";
	cmd->principal.n = 4;
	rv = http__idem_key(r, c->key, &found);
	if (rv != 0)
		return rv;
	if (found) {
		cmd->key.p = c->key;
		cmd->key.n = strlen(c->key);
	}
	return 0;
}

void http__submit(struct http_req *r, struct http_call *c, struct cmd *cmd, http_write_fn fn)
{
	int rv;

	c->write = fn;
	rv = agent_submit(r->h->a, cmd, http__write_cb, c);
	if (rv != 0) {
		http__call_free(c);
		if (rv == ERR_INVALID)
			http__reply_error(r, 400, ERR_INVALID, "%s: the command is invalid",
					  cmd_type_name(cmd->type));
		else
			http__reply_error(r, http__status_of(rv), rv, "%s: %s",
					  cmd_type_name(cmd->type), err_str(rv));
	}
}

/* ---- Waiting ---------------------------------------------------------- */

static void watch_cb(struct agent_watch *w, uint64_t applied)
{
	struct http_req *r = w->data;

	if ((r->replied && !r->streaming) || r->on_watch == NULL)
		return;
	if (r->call != NULL) {
		r->rewatch = true;
		return;
	}
	r->on_watch(r, applied);
}

void http__watch(struct http_req *r, void (*fn)(struct http_req *r, uint64_t applied))
{
	r->on_watch = fn;
	if (r->watching)
		return;
	r->watch.cb = watch_cb;
	r->watch.data = r;
	agent_watch_add(r->h->a, &r->watch);
	r->watching = true;
}

void http__unwatch(struct http_req *r)
{
	if (!r->watching)
		return;
	agent_watch_remove(r->h->a, &r->watch);
	r->watching = false;
	r->rewatch = false;
}

void http__deadline(struct http_req *r, uint64_t ms, void (*fn)(struct http_req *r))
{
	r->deadline = uv_now(r->h->loop) + (ms > 0 ? ms : 1);
	r->on_deadline = fn;
	deadline_update(r->h);
}

static void deadline_cb(uv_timer_t *t)
{
	struct http *h = t->data;
	uint64_t now = uv_now(h->loop);
	struct http_req *r, *next;

	for (r = h->reqs; r != NULL; r = next) {
		next = r->next;
		if (r->deadline == 0 || r->deadline > now || r->replied)
			continue;
		r->deadline = 0;
		if (r->on_deadline != NULL)
			r->on_deadline(r);
	}
	deadline_update(h);
}

static void deadline_update(struct http *h)
{
	uint64_t min = 0, now = uv_now(h->loop);
	struct http_req *r;

	if (h->stopping)
		return;
	for (r = h->reqs; r != NULL; r = r->next)
		if (r->deadline != 0 && !r->replied && (min == 0 || r->deadline < min))
			min = r->deadline;
	if (min == 0) {
		uv_timer_stop(&h->deadline_timer);
		return;
	}
	uv_timer_start(&h->deadline_timer, deadline_cb, min > now ? min - now : 0, 0);
}

/* ---- Result maps ------------------------------------------------------ */

/* Converts one msgpack value (bounded nesting) to JSON. */
static json_t *value_json(struct unpacker *u, int depth)
{
	const char *s;
	const void *b;
	uint64_t uv;
	int64_t iv;
	uint32_t n, i;
	size_t len;
	bool bv;
	json_t *j;

	if (depth > 8)
		return NULL;
	if (unpack_uint(u, &uv) == 0)
		return json_integer(uv > INT64_MAX ? INT64_MAX : (json_int_t)uv);
	if (unpack_int(u, &iv) == 0)
		return json_integer(iv);
	if (unpack_bool(u, &bv) == 0)
		return json_boolean(bv);
	if (unpack_nil(u) == 0)
		return json_null();
	if (unpack_str(u, &s, &len) == 0)
		return http__jstr(s, len);
	if (unpack_bin(u, &b, &len) == 0) {
		char *hex = malloc(2 * len + 1);

		if (hex == NULL)
			return NULL;
		http_hex(b, len, hex);
		j = json_stringn(hex, 2 * len);
		free(hex);
		return j;
	}
	if (unpack_array(u, &n) == 0) {
		j = json_array();
		for (i = 0; j != NULL && i < n; i++) {
			json_t *e = value_json(u, depth + 1);

			if (e == NULL || json_array_append_new(j, e) != 0) {
				json_decref(j);
				j = NULL;
			}
		}
		return j;
	}
	if (unpack_map(u, &n) == 0) {
		j = json_object();
		for (i = 0; j != NULL && i < n; i++) {
			json_t *e;
			char key[64];

			if (unpack_str(u, &s, &len) != 0 || len >= sizeof key) {
				json_decref(j);
				return NULL;
			}
			memcpy(key, s, len);
			key[len] = '\0';
			e = value_json(u, depth + 1);
			if (e == NULL || json_object_set_new(j, key, e) != 0) {
				json_decref(j);
				j = NULL;
			}
		}
		return j;
	}
	return NULL;
}

json_t *http__result_json(const void *p, size_t n, uint64_t index)
{
	struct unpacker u;
	json_t *j = json_object(), *m;

	if (j == NULL)
		return NULL;
	if (index != 0)
		json_object_set_new(j, "index", json_integer((json_int_t)index));
	if (p == NULL || n == 0)
		return j;
	unpacker_init(&u, p, n);
	m = value_json(&u, 0);
	/* A result that is not a map (or is damaged) is left out. */
	if (m != NULL && json_is_object(m))
		json_object_update_missing(j, m);
	json_decref(m);
	return j;
}

/* ---- Nodes ------------------------------------------------------------ */

int http__nodes_load(struct http_nodes *ns, struct store_txn *t, uint64_t at)
{
	struct store_iter it;
	const void *k, *v;
	size_t kl, vl, cap = 0;
	int rv;

	ns->n = 0;
	ns->v = NULL;
	rv = store_iter_init(&it, t, STORE_NODES, NULL, 0, at);
	if (rv != 0)
		return rv;
	while ((rv = store_iter_next(&it, &k, &kl, &v, &vl)) == 0) {
		struct node_row row;

		if (node_row_decode(v, vl, &row) != 0)
			continue;
		if (ns->n == cap) {
			size_t ncap = cap > 0 ? 2 * cap : 8;
			void *nv = realloc(ns->v, ncap * sizeof ns->v[0]);

			if (nv == NULL) {
				rv = ERR_NOMEM;
				break;
			}
			ns->v = nv;
			cap = ncap;
		}
		ns->v[ns->n].id = row.id;
		snprintf(ns->v[ns->n].name, sizeof ns->v[ns->n].name, "%.*s", (int)row.name.n,
			 row.name.p);
		snprintf(ns->v[ns->n].http, sizeof ns->v[ns->n].http, "%.*s", (int)row.http_addr.n,
			 row.http_addr.p);
		ns->n++;
	}
	store_iter_close(&it);
	if (rv == ERR_NOTFOUND)
		return 0;
	http__nodes_release(ns);
	return rv;
}

const char *http__node_name(const struct http_nodes *ns, uint64_t id)
{
	size_t i;

	for (i = 0; i < ns->n; i++)
		if (ns->v[i].id == id)
			return ns->v[i].name;
	return NULL;
}

uint64_t http__node_id(const struct http_nodes *ns, const char *name)
{
	size_t i;

	for (i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i].name, name) == 0)
			return ns->v[i].id;
	return 0;
}

void http__nodes_release(struct http_nodes *ns)
{
	free(ns->v);
	ns->v = NULL;
	ns->n = 0;
}

/* ---- Connections and lifecycle ---------------------------------------- */

static void on_conn_close(uv_handle_t *handle)
{
	struct http_conn *c = (struct http_conn *)handle;
	struct http *h = c->h;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	h->nconns--;
	free(c);
	if (h->stopping)
		check_closed(h);
}

static void on_accept_fail_close(uv_handle_t *handle)
{
	free(handle);
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct http *h = listener->data;
	struct http_conn *c;
	h2o_socket_t *sock;

	if (status != 0 || h->stopping)
		return;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return;
	c->h = h;
	uv_tcp_init(h->loop, &c->tcp);
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
		uv_close((uv_handle_t *)&c->tcp, on_accept_fail_close);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	c->next = h->conns;
	if (h->conns != NULL)
		h->conns->prev = c;
	h->conns = c;
	h->nconns++;
	sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_close);
	h2o_accept(&h->accept_ctx, sock);
}

static int parse_addr(const char *addr, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[80];
	const char *colon;
	uint64_t port;
	size_t hn;

	colon = strrchr(addr, ':');
	if (colon == NULL)
		return err_set(err, errlen, ERR_INVALID, "http address '%s' is not IP:PORT", addr);
	if (http_u64_parse(colon + 1, strlen(colon + 1), "port", &port, NULL, 0) != 0 ||
	    port > 65535)
		return err_set(err, errlen, ERR_INVALID, "http address '%s' has a bad port", addr);
	hn = (size_t)(colon - addr);
	if (hn >= 2 && addr[0] == '[' && addr[hn - 1] == ']') {
		addr++;
		hn -= 2;
	}
	if (hn == 0 || hn >= sizeof host)
		return err_set(err, errlen, ERR_INVALID, "http address '%s' has a bad host", addr);
	memcpy(host, addr, hn);
	host[hn] = '\0';
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return err_set(err, errlen, ERR_INVALID, "http address '%s': '%s' is not an IP address",
		       addr, host);
}

static void on_failed_listener_close(uv_handle_t *handle)
{
	free(handle->data);
}

int http_start(struct http **out, struct agent *a, uv_loop_t *loop, const char *addr, char *err,
	       size_t errlen)
{
	struct sockaddr_storage ss;
	h2o_hostconf_t *host;
	h2o_pathconf_t *path;
	struct http_handler *handler;
	struct http *h;
	int rv;

	memset(&ss, 0, sizeof ss);
	rv = parse_addr(addr, &ss, err, errlen);
	if (rv != 0)
		return rv;
	h = calloc(1, sizeof *h);
	if (h == NULL)
		return err_set(err, errlen, ERR_NOMEM, "http: out of memory");
	h->a = a;
	h->loop = loop;

	/* Listen first: after a failure here only the listener needs closing. */
	uv_tcp_init(loop, &h->listener);
	h->listener.data = h;
	rv = uv_tcp_bind(&h->listener, (const struct sockaddr *)&ss, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&h->listener, 128, on_connection);
	if (rv != 0) {
		err_set(err, errlen, rv == UV_EACCES ? ERR_DENIED : ERR_IO, "listen on '%s': %s",
			addr, uv_strerror(rv));
		uv_close((uv_handle_t *)&h->listener, on_failed_listener_close);
		return rv == UV_EACCES ? ERR_DENIED : ERR_IO;
	}
	h->listener_open = true;
	uv_timer_init(loop, &h->deadline_timer);
	h->deadline_timer.data = h;
	uv_timer_init(loop, &h->final_timer);
	h->final_timer.data = h;

	h2o_config_init(&h->config);
	h->config.server_name = h2o_iovec_init(H2O_STRLIT("logosd"));
	h->config.max_request_entity_size = HTTP_BODY_MAX;
	/* HTTP/1.1 only: the stop sequence relies on its connection handling. */
	h->config.http1.upgrade_to_http2 = 0;
	host = h2o_config_register_host(&h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	path = h2o_config_register_path(host, "/", 0);
	handler = (struct http_handler *)h2o_create_handler(path, sizeof *handler);
	handler->super.on_req = on_req;
	handler->h = h;
	h2o_context_init(&h->ctx, loop, &h->config);
	h->ctx_ready = true;
	h->accept_ctx.ctx = &h->ctx;
	h->accept_ctx.hosts = h->config.hosts;
	*out = h;
	return 0;
}

static void on_final_close(uv_handle_t *handle)
{
	struct http *h = handle->data;
	void (*cb)(void *) = h->stop_cb;
	void *arg = h->stop_arg;

	h2o_config_dispose(&h->config);
	free(h);
	if (cb != NULL)
		cb(arg);
}

static void on_deadline_close(uv_handle_t *handle)
{
	struct http *h = handle->data;

	/* This runs in the loop's close phase that also finishes the closes
	 * started by ctx_dispose (or an earlier one); closing another handle
	 * from here lands in the next close phase, after them. */
	uv_close((uv_handle_t *)&h->final_timer, on_final_close);
}

/*
 * h2o_context_dispose of libh2o 2.2.5 without its uv_run(loop, NOWAIT): we
 * are inside a callback of the loop, and libuv's uv_run is not reentrant.
 * The timers it closes (embedded in h->ctx, closed without a callback) are
 * finished by the loop before on_final_close frees their memory.
 */
static void ctx_dispose(struct http *h)
{
	h2o_context_t *ctx = &h->ctx;
	h2o_globalconf_t *config = ctx->globalconf;
	size_t i, j;

	for (i = 0; config->hosts[i] != NULL; ++i) {
		h2o_hostconf_t *hostconf = config->hosts[i];

		for (j = 0; j != hostconf->paths.size; ++j)
			h2o_context_dispose_pathconf_context(ctx, hostconf->paths.entries + j);
		h2o_context_dispose_pathconf_context(ctx, &hostconf->fallback_path);
	}
	free(ctx->_pathconfs_inited.entries);
	free(ctx->_module_configs);
	h2o_timeout__do_dispose(ctx->loop, &ctx->zero_timeout);
	h2o_timeout__do_dispose(ctx->loop, &ctx->one_sec_timeout);
	h2o_timeout__do_dispose(ctx->loop, &ctx->hundred_ms_timeout);
	h2o_timeout__do_dispose(ctx->loop, &ctx->handshake_timeout);
	h2o_timeout__do_dispose(ctx->loop, &ctx->http1.req_timeout);
	h2o_timeout__do_dispose(ctx->loop, &ctx->http2.idle_timeout);
	h2o_timeout__do_dispose(ctx->loop, &ctx->http2.graceful_shutdown_timeout);
	h2o_timeout__do_dispose(ctx->loop, &ctx->proxy.io_timeout);
	h2o_filecache_destroy(ctx->filecache);
	ctx->filecache = NULL;
	for (i = 0; i != ctx->storage.size; ++i)
		if (ctx->storage.entries[i].dispose != NULL)
			ctx->storage.entries[i].dispose(ctx->storage.entries[i].data);
	free(ctx->storage.entries);
	h2o_multithread_unregister_receiver(ctx->queue, &ctx->receivers.hostinfo_getaddr);
	h2o_multithread_destroy_queue(ctx->queue);
	if (ctx->_timestamp_cache.value != NULL)
		h2o_mem_release_shared(ctx->_timestamp_cache.value);
}

static void check_closed(struct http *h)
{
	if (h->disposed || h->listener_open || h->nconns > 0)
		return;
	h->disposed = true;
	ctx_dispose(h);
	uv_close((uv_handle_t *)&h->deadline_timer, on_deadline_close);
}

static void on_listener_close(uv_handle_t *handle)
{
	struct http *h = handle->data;

	h->listener_open = false;
	check_closed(h);
}

void http_stop(struct http *h, void (*cb)(void *arg), void *arg)
{
	struct http_req *r, *next;
	struct http_conn *c;

	if (h->stopping)
		return;
	h->stopping = true;
	h->stop_cb = cb;
	h->stop_arg = arg;
	uv_timer_stop(&h->deadline_timer);
	uv_close((uv_handle_t *)&h->listener, on_listener_close);
	/* Responses from now on close their connection. */
	h2o_context_request_shutdown(&h->ctx);
	for (r = h->reqs; r != NULL; r = next) {
		next = r->next;
		r->req->http1_is_persistent = 0;
		if (r->replied && r->on_stop == NULL)
			continue;
		http__unwatch(r);
		r->deadline = 0;
		if (r->on_stop != NULL)
			r->on_stop(r);
		else
			http__reply_error(r, 503, ERR_CANCELED, "canceled: the agent is stopping");
	}
	/* Idle keep-alive connections wait for a request: shutting down the
	 * reading side makes h2o see an end of stream and close them. Busy
	 * ones do not read; they close after their (now final) response. */
	for (c = h->conns; c != NULL; c = c->next) {
		uv_os_fd_t fd;

		if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
			shutdown(fd, SHUT_RD);
	}
}
