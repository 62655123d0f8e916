/*
 * The endpoints of the replicated tree of files, the message queues, the
 * nodes and rewind (DESIGN §6): PUT|GET|DELETE /v1/files/{path},
 * GET /v1/files?prefix=, POST /v1/queues/{q}, POST /v1/queues/{q}/recv
 * (?wait=S), GET /v1/queues, GET|POST /v1/nodes, DELETE /v1/nodes/{id},
 * POST /v1/nodes/{id}/drain, POST /v1/rewind (?plan=1).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/http_internal.h"
#include "common/error.h"
#include "common/pack.h"
#include "services/files.h"
#include "services/msg.h"
#include "services/nodes.h"

#define RECV_WAIT_MAX_S 3600
#define PLAN_LIMIT      1000
#define PLAN_LIMIT_MAX  100000

/* ---- Arguments -------------------------------------------------------- */

/* The file path of capture 0 ("a/b" of /v1/files/a/b → "/a/b") into `out`
 * (CMD_PATH_MAX + 1 bytes, NUL-terminated). Replies 400 on a bad path. */
static int path_arg(struct http_req *r, char *out, size_t *n)
{
	char err[300];
	int rv;

	out[0] = '/';
	rv = http_pct_decode(r->cap[0].p, r->cap[0].n, false, out + 1, CMD_PATH_MAX - 1, n, err,
			     sizeof err);
	if (rv == 0) {
		*n += 1;
		out[*n] = '\0';
		rv = http_path_check(out, *n, err, sizeof err);
	} else if (rv == ERR_TOOBIG) {
		snprintf(err, sizeof err, "path is over the limit of %d bytes", CMD_PATH_MAX);
	}
	if (rv != 0) {
		http__reply_error(r, 400, ERR_INVALID, "%s", err);
		return rv;
	}
	return 0;
}

/* The queue name of capture 0 into `out` (CMD_QUEUE_MAX + 1 bytes). */
static int queue_arg(struct http_req *r, char *out, size_t *n)
{
	char err[300];
	int rv;

	rv = http_pct_decode(r->cap[0].p, r->cap[0].n, false, out, CMD_QUEUE_MAX, n, err,
			     sizeof err);
	if (rv == 0)
		rv = http_queue_check(out, *n, err, sizeof err);
	else if (rv == ERR_TOOBIG)
		snprintf(err, sizeof err, "queue name is over the limit of %d bytes",
			 CMD_QUEUE_MAX);
	if (rv != 0) {
		http__reply_error(r, 400, ERR_INVALID, "%s", err);
		return rv;
	}
	out[*n] = '\0';
	return 0;
}

static int node_arg(struct http_req *r, uint64_t *id)
{
	char err[200];

	if (http_u64_parse(r->cap[0].p, r->cap[0].n, "node id", id, err, sizeof err) != 0 ||
	    *id == 0) {
		http__reply_error(r, 400, ERR_INVALID, "%s",
				  *id == 0 ? "node id 0 is not a node" : err);
		return ERR_INVALID;
	}
	return 0;
}

/* ?if_version=V (-1 when absent). */
static int if_version_arg(struct http_req *r, int64_t *v)
{
	uint64_t u;
	bool found;

	*v = -1;
	if (http__query_u64(r, "if_version", &u, &found) != 0)
		return ERR_INVALID;
	if (!found)
		return 0;
	if (u > INT64_MAX) {
		http__reply_error(r, 400, ERR_INVALID, "if_version is too large");
		return ERR_INVALID;
	}
	*v = (int64_t)u;
	return 0;
}

/* ---- Files ------------------------------------------------------------ */

void api_files_put(struct http_req *r)
{
	struct http_call *c;
	struct cmd cmd;
	const void *body;
	int64_t ifv;
	size_t n, plen;

	c = http__call_new(r);
	if (c == NULL)
		return;
	if (path_arg(r, c->s1, &plen) != 0 || if_version_arg(r, &ifv) != 0)
		goto fail;
	body = http__body(r, &n);
	if (n > CMD_FILE_MAX) {
		http__reply_error(r, 413, ERR_TOOBIG, "file is %zu bytes, over the limit of %u", n,
				  CMD_FILE_MAX);
		goto fail;
	}
	if (buf_append(&c->b1, body, n) != 0) {
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (http__cmd_init(r, c, &cmd, CMD_FILE_PUT) != 0)
		goto fail;
	cmd.u.put.path.p = c->s1;
	cmd.u.put.path.n = plen;
	cmd.u.put.data.p = c->b1.data;
	cmd.u.put.data.n = c->b1.len;
	cmd.u.put.if_version = ifv;
	http__submit(r, c, &cmd, NULL);
	return;
fail:
	http__call_free(c);
}

void api_files_del(struct http_req *r)
{
	struct http_call *c;
	struct cmd cmd;
	int64_t ifv;
	size_t plen;

	c = http__call_new(r);
	if (c == NULL)
		return;
	if (path_arg(r, c->s1, &plen) != 0 || if_version_arg(r, &ifv) != 0 ||
	    http__cmd_init(r, c, &cmd, CMD_FILE_DEL) != 0) {
		http__call_free(c);
		return;
	}
	cmd.u.del.path.p = c->s1;
	cmd.u.del.path.n = plen;
	cmd.u.del.if_version = ifv;
	http__submit(r, c, &cmd, NULL);
}

static void file_read(struct http_req *r, struct store_txn *t)
{
	const char *path = r->state;
	struct file_row f;
	const void *v;
	size_t vl;
	int rv;

	rv = store_get(t, STORE_FILES, path, strlen(path), r->at, &v, &vl);
	if (rv == ERR_NOTFOUND) {
		http__reply_error(r, 404, ERR_NOTFOUND, "no file '%s'", path);
		return;
	}
	if (rv != 0) {
		http__reply_store_error(r, t, rv, "file");
		return;
	}
	if (file_row_decode(v, vl, &f) != 0) {
		http__reply_error(r, 500, ERR_CORRUPT, "file '%s': row is corrupt", path);
		return;
	}
	http__header_u64(r, "x-logos-version", f.version);
	http__header_u64(r, "x-logos-index", f.modified_index);
	http__header_u64(r, "x-logos-modified-ms", f.modified_ms);
	http__reply_raw(r, 200, "application/octet-stream", f.data.p, f.data.n);
}

void api_files_get(struct http_req *r)
{
	char *path = h2o_mem_alloc_pool(&r->req->pool, CMD_PATH_MAX + 1);
	size_t n;

	if (path_arg(r, path, &n) != 0)
		return;
	r->state = path;
	http__read(r, r->stale, file_read);
}

static void files_list_read(struct http_req *r, struct store_txn *t)
{
	const char *prefix = r->state;
	struct store_iter it;
	const void *k, *v;
	size_t kl, vl;
	json_t *j, *files;
	int rv;

	rv = store_iter_init(&it, t, STORE_FILES, prefix, strlen(prefix), r->at);
	if (rv != 0) {
		http__reply_store_error(r, t, rv, "files");
		return;
	}
	j = json_object();
	files = json_array();
	json_object_set_new(j, "files", files);
	while ((rv = store_iter_next(&it, &k, &kl, &v, &vl)) == 0) {
		struct file_row f;
		json_t *e;

		if (file_row_decode(v, vl, &f) != 0)
			continue;
		e = json_object();
		if (e == NULL) {
			rv = ERR_NOMEM;
			break;
		}
		json_object_set_new(e, "path", http__jstr(k, kl));
		json_object_set_new(e, "version", json_integer((json_int_t)f.version));
		json_object_set_new(e, "size", json_integer((json_int_t)f.size));
		json_object_set_new(e, "modified_index",
				    json_integer((json_int_t)f.modified_index));
		json_object_set_new(e, "modified_ms", json_integer((json_int_t)f.modified_ms));
		json_array_append_new(files, e);
	}
	store_iter_close(&it);
	if (rv != ERR_NOTFOUND) {
		json_decref(j);
		http__reply_store_error(r, t, rv, "files");
		return;
	}
	json_object_set_new(j, "index", json_integer((json_int_t)(r->has_at ? r->at : t->index)));
	http__reply_json(r, 200, j);
}

void api_files_list(struct http_req *r)
{
	char *prefix = h2o_mem_alloc_pool(&r->req->pool, STORE_KEY_MAX + 2);
	bool found;

	/* Decoding rejects NUL; a prefix longer than any key matches nothing
	 * and is refused as such. */
	if (http__query_str(r, "prefix", prefix, STORE_KEY_MAX + 2, &found) != 0)
		return;
	if (strlen(prefix) > STORE_KEY_MAX) {
		http__reply_error(r, 400, ERR_INVALID, "prefix is over %d bytes", STORE_KEY_MAX);
		return;
	}
	r->state = prefix;
	http__read(r, r->stale, files_list_read);
}

/* ---- Queues ----------------------------------------------------------- */

void api_queues_send(struct http_req *r)
{
	struct http_call *c;
	struct cmd cmd;
	const void *body;
	size_t n, qn;

	c = http__call_new(r);
	if (c == NULL)
		return;
	if (queue_arg(r, c->s1, &qn) != 0)
		goto fail;
	body = http__body(r, &n);
	if (n > CMD_MESSAGE_MAX) {
		http__reply_error(r, 413, ERR_TOOBIG, "message is %zu bytes, over the limit of %u",
				  n, CMD_MESSAGE_MAX);
		goto fail;
	}
	if (buf_append(&c->b1, body, n) != 0) {
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (http__cmd_init(r, c, &cmd, CMD_MSG_SEND) != 0)
		goto fail;
	cmd.u.send.queue.p = c->s1;
	cmd.u.send.queue.n = qn;
	cmd.u.send.data.p = c->b1.data;
	cmd.u.send.data.n = c->b1.len;
	http__submit(r, c, &cmd, NULL);
	return;
fail:
	http__call_free(c);
}

struct recv_state {
	char queue[CMD_QUEUE_MAX + 1];
	size_t qn;
	uint64_t wait_s;
	uint64_t last_index; /* index of the last empty recv */
	bool submitting;     /* a recv is in flight: its result decides */
	bool expired;        /* the wait ended while it was */
};

static void recv_submit(struct http_req *r);

static void recv_empty(struct http_req *r)
{
	http__reply_raw(r, 204, NULL, NULL, 0);
}

static void recv_check_read(struct http_req *r, struct store_txn *t)
{
	struct recv_state *s = r->state;
	struct queue_row q;
	const void *v;
	size_t vl;

	/* Not yet caught up with the empty recv: wait for the next entry. */
	if (t->index < s->last_index)
		return;
	if (store_get(t, STORE_QUEUES, s->queue, s->qn, STORE_AT_LATEST, &v, &vl) == 0 &&
	    queue_row_decode(v, vl, &q) == 0 && q.count > 0)
		recv_submit(r);
}

static void recv_on_apply(struct http_req *r, uint64_t applied)
{
	struct recv_state *s = r->state;

	if (!s->submitting)
		http__read(r, true, recv_check_read);
}

static void recv_on_deadline(struct http_req *r)
{
	struct recv_state *s = r->state;

	/* A recv in flight may take a message: its result must reach us. */
	if (s->submitting)
		s->expired = true;
	else
		recv_empty(r);
}

static void recv_cb(void *arg, const struct agent_result *res)
{
	struct http_call *c = arg;
	struct http_req *r = c->r;
	struct recv_state *s;
	struct unpacker u;
	uint32_t n, i;
	uint64_t seq = 0;
	const void *data = NULL;
	size_t dlen = 0;

	http__call_free(c);
	if (r == NULL || r->replied)
		return;
	s = r->state;
	s->submitting = false;
	if (res->status != 0) {
		http__reply_unavailable(r, res->status);
		return;
	}
	if (res->code == ERR_NOTFOUND) {
		/* Empty: wait for a send, until the deadline. */
		s->last_index = res->index;
		if (s->wait_s == 0 || s->expired) {
			recv_empty(r);
			return;
		}
		if (r->deadline == 0 && !r->watching)
			http__deadline(r, s->wait_s * 1000, recv_on_deadline);
		r->rewatch = false;
		http__watch(r, recv_on_apply);
		http__read(r, true, recv_check_read);
		return;
	}
	if (res->code != 0) {
		int code = res->code > 0 && res->code < ERR__COUNT ? (int)res->code : ERR_INTERNAL;

		http__reply_error(r, http__status_of(code), code, "%.*s", (int)res->message_len,
				  res->message != NULL ? res->message : "");
		return;
	}
	/* {"seq": N, "data": bin} (services/msg.c). */
	unpacker_init(&u, res->result, res->result != NULL ? res->result_len : 0);
	if (unpack_map(&u, &n) != 0)
		n = 0;
	for (i = 0; i < n; i++) {
		const char *k;
		size_t kl;

		if (unpack_str(&u, &k, &kl) != 0)
			break;
		if (kl == 3 && memcmp(k, "seq", 3) == 0) {
			if (unpack_uint(&u, &seq) != 0)
				break;
		} else if (kl == 4 && memcmp(k, "data", 4) == 0) {
			if (unpack_bin(&u, &data, &dlen) != 0)
				break;
		} else if (unpack_skip(&u) != 0) {
			break;
		}
	}
	http__header_u64(r, "x-logos-seq", seq);
	http__header_u64(r, "x-logos-index", res->index);
	http__reply_raw(r, 200, "application/octet-stream", data, dlen);
}

static void recv_submit(struct http_req *r)
{
	struct recv_state *s = r->state;
	struct http_call *c;
	struct cmd cmd;
	int rv;

	c = http__call_new(r);
	if (c == NULL)
		return;
	if (http__cmd_init(r, c, &cmd, CMD_MSG_RECV) != 0) {
		http__call_free(c);
		return;
	}
	memcpy(c->s1, s->queue, s->qn + 1);
	cmd.u.recv.queue.p = c->s1;
	cmd.u.recv.queue.n = s->qn;
	s->submitting = true;
	rv = agent_submit(r->h->a, &cmd, recv_cb, c);
	if (rv != 0) {
		s->submitting = false;
		http__call_free(c);
		http__reply_error(r, http__status_of(rv), rv, "msg.recv: %s", err_str(rv));
	}
}

void api_queues_recv(struct http_req *r)
{
	struct recv_state *s = h2o_mem_alloc_pool(&r->req->pool, sizeof *s);
	bool found;

	memset(s, 0, sizeof *s);
	r->state = s;
	if (queue_arg(r, s->queue, &s->qn) != 0)
		return;
	if (http__query_u64(r, "wait", &s->wait_s, &found) != 0)
		return;
	if (s->wait_s > RECV_WAIT_MAX_S) {
		http__reply_error(r, 400, ERR_INVALID, "wait must be 0..%d seconds",
				  RECV_WAIT_MAX_S);
		return;
	}
	recv_submit(r);
}

static void queues_list_read(struct http_req *r, struct store_txn *t)
{
	struct store_iter it;
	const void *k, *v;
	size_t kl, vl;
	json_t *j, *queues;
	int rv;

	rv = store_iter_init(&it, t, STORE_QUEUES, NULL, 0, r->at);
	if (rv != 0) {
		http__reply_store_error(r, t, rv, "queues");
		return;
	}
	j = json_object();
	queues = json_array();
	json_object_set_new(j, "queues", queues);
	while ((rv = store_iter_next(&it, &k, &kl, &v, &vl)) == 0) {
		struct queue_row q;
		json_t *e;

		if (queue_row_decode(v, vl, &q) != 0)
			continue;
		e = json_object();
		if (e == NULL) {
			rv = ERR_NOMEM;
			break;
		}
		json_object_set_new(e, "name", http__jstr(k, kl));
		json_object_set_new(e, "count", json_integer((json_int_t)q.count));
		json_object_set_new(e, "bytes", json_integer((json_int_t)q.bytes));
		json_object_set_new(e, "head_seq", json_integer((json_int_t)q.head_seq));
		json_object_set_new(e, "next_seq", json_integer((json_int_t)q.next_seq));
		json_array_append_new(queues, e);
	}
	store_iter_close(&it);
	if (rv != ERR_NOTFOUND) {
		json_decref(j);
		http__reply_store_error(r, t, rv, "queues");
		return;
	}
	json_object_set_new(j, "index", json_integer((json_int_t)(r->has_at ? r->at : t->index)));
	http__reply_json(r, 200, j);
}

void api_queues_list(struct http_req *r)
{
	http__read(r, r->stale, queues_list_read);
}

/* ---- Nodes ------------------------------------------------------------ */

static void nodes_list_read(struct http_req *r, struct store_txn *t)
{
	struct agent_status st;
	struct store_iter it;
	const void *k, *v;
	size_t kl, vl;
	json_t *j, *nodes;
	int rv;

	agent_status(r->h->a, &st);
	rv = store_iter_init(&it, t, STORE_NODES, NULL, 0, r->at);
	if (rv != 0) {
		http__reply_store_error(r, t, rv, "nodes");
		return;
	}
	j = json_object();
	nodes = json_array();
	json_object_set_new(j, "nodes", nodes);
	while ((rv = store_iter_next(&it, &k, &kl, &v, &vl)) == 0) {
		struct node_row n;
		json_t *e;

		if (node_row_decode(v, vl, &n) != 0)
			continue;
		e = json_object();
		if (e == NULL) {
			rv = ERR_NOMEM;
			break;
		}
		json_object_set_new(e, "id", json_integer((json_int_t)n.id));
		json_object_set_new(e, "name", http__jstr(n.name.p, n.name.n));
		json_object_set_new(e, "raft", http__jstr(n.raft_addr.p, n.raft_addr.n));
		json_object_set_new(e, "http", http__jstr(n.http_addr.p, n.http_addr.n));
		json_object_set_new(e, "role", json_string(node_role_name(n.role)));
		json_object_set_new(e, "state", json_string(node_state_name(n.state)));
		json_object_set_new(e, "leader", json_boolean(n.id == st.leader_id));
		json_object_set_new(e, "joined_ms", json_integer((json_int_t)n.joined_ms));
		json_object_set_new(e, "load", json_integer(n.load));
		json_array_append_new(nodes, e);
	}
	store_iter_close(&it);
	if (rv != ERR_NOTFOUND) {
		json_decref(j);
		http__reply_store_error(r, t, rv, "nodes");
		return;
	}
	json_object_set_new(j, "leader",
			    st.leader_id != 0 ? json_integer((json_int_t)st.leader_id)
					      : json_null());
	json_object_set_new(j, "index", json_integer((json_int_t)(r->has_at ? r->at : t->index)));
	http__reply_json(r, 200, j);
}

void api_nodes_list(struct http_req *r)
{
	http__read(r, r->stale, nodes_list_read);
}

void api_nodes_join(struct http_req *r)
{
	static const struct http_field fields[] = {
		{"name", JSON_STRING},
		{"raft", JSON_STRING},
		{"http", JSON_STRING},
		{"token", JSON_STRING},
	};
	const char *s[4];
	size_t n[4], off[4], i;
	struct http_call *c;
	char err[300];
	json_t *j;
	int rv;

	if (http__json_body(r, fields, 4, &j) != 0)
		return;
	for (i = 0; i < 4; i++) {
		json_t *v = json_object_get(j, fields[i].name);

		if (v == NULL) {
			json_decref(j);
			http__reply_error(r, 400, ERR_INVALID, "field '%s' is required",
					  fields[i].name);
			return;
		}
		if (http_json_str(v, fields[i].name, &s[i], &n[i], err, sizeof err) != 0 ||
		    (i == 0 && http_node_name_check(s[i], n[i], err, sizeof err) != 0)) {
			json_decref(j);
			http__reply_error(r, 400, ERR_INVALID, "%s", err);
			return;
		}
		if ((i == 1 || i == 2) && (n[i] == 0 || n[i] > CMD_ADDR_MAX)) {
			json_decref(j);
			http__reply_error(r, 400, ERR_INVALID, "%s address must be 1..%d bytes",
					  fields[i].name, CMD_ADDR_MAX);
			return;
		}
	}
	c = http__call_new(r);
	if (c == NULL) {
		json_decref(j);
		return;
	}
	/* The call owns NUL-terminated copies. */
	for (i = 0; i < 4; i++) {
		off[i] = c->b1.len;
		if (buf_append(&c->b1, s[i], n[i] + 1) != 0)
			break;
	}
	json_decref(j);
	if (i < 4) {
		http__call_free(c);
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		return;
	}
	rv = agent_join(r->h->a, (const char *)c->b1.data + off[3],
			(const char *)c->b1.data + off[0], (const char *)c->b1.data + off[1],
			(const char *)c->b1.data + off[2], http__write_cb, c);
	if (rv != 0) {
		http__call_free(c);
		http__reply_error(r, http__status_of(rv), rv, "node.join: %s", err_str(rv));
	}
}

static void node_command(struct http_req *r, uint32_t type)
{
	struct http_call *c;
	struct cmd cmd;
	uint64_t id = 0;

	if (node_arg(r, &id) != 0)
		return;
	c = http__call_new(r);
	if (c == NULL)
		return;
	if (http__cmd_init(r, c, &cmd, type) != 0) {
		http__call_free(c);
		return;
	}
	cmd.u.node.node = id;
	http__submit(r, c, &cmd, NULL);
}

void api_nodes_remove(struct http_req *r)
{
	node_command(r, CMD_NODE_REMOVE);
}

void api_nodes_drain(struct http_req *r)
{
	node_command(r, CMD_NODE_DRAIN);
}

/* ---- POST /v1/rewind -------------------------------------------------- */

struct plan_state {
	uint64_t target, limit, total;
	json_t *changes;
	json_t *irreversible;
};

/* What a rewind cannot undo, seen in the changed rows: processes that ran
 * after the target. (Messages received after it: plan_received.) */
static void plan_irreversible(struct plan_state *s, const struct http_change *c)
{
	json_t *e = NULL;

	if (json_array_size(s->irreversible) >= s->limit)
		return;
	if (c->table == STORE_PROCS && c->after != NULL) {
		struct proc_row now, then;
		bool had = c->before != NULL && proc_row_decode(c->before, c->blen, &then) == 0;

		if (proc_row_decode(c->after, c->alen, &now) != 0 || now.started_ms == 0)
			return;
		if (had && then.attempt == now.attempt && proc_is_ended(then.state))
			return;
		e = json_object();
		if (e == NULL)
			return;
		json_object_set_new(e, "kind", json_string("process"));
		json_object_set_new(e, "pid", json_integer((json_int_t)now.pid));
		json_object_set_new(e, "node_id", json_integer((json_int_t)now.node));
		json_object_set_new(e, "state", json_string(proc_state_name(now.state)));
		json_object_set_new(e, "reason",
				    json_string("ran after the target index: its effects outside "
						"logos cannot be undone"));
	}
	if (e != NULL)
		json_array_append_new(s->irreversible, e);
}

static int plan_one(void *arg, const struct http_change *c)
{
	struct plan_state *s = arg;
	json_t *e;

	s->total++;
	plan_irreversible(s, c);
	if (json_array_size(s->changes) >= s->limit)
		return 0;
	e = json_object();
	if (e == NULL)
		return ERR_NOMEM;
	json_object_set_new(e, "table", json_string(store_table_name(c->table)));
	json_object_set_new(e, "key", http__key_json(c->table, c->key, c->klen));
	/* before: the value at the target, which the rewind restores. */
	json_object_set_new(e, "action",
			    json_string(c->before == NULL  ? "delete"
					: c->after == NULL ? "create"
							   : "restore"));
	return json_array_append_new(s->changes, e) == 0 ? 0 : ERR_NOMEM;
}

/* The seq in a msg.recv result map, or 0. */
static uint64_t result_seq(const void *result, size_t len)
{
	struct unpacker u;
	const char *k;
	size_t kl;
	uint32_t n;
	uint64_t seq = 0;

	unpacker_init(&u, result, len);
	if (unpack_map(&u, &n) != 0)
		return 0;
	while (n-- > 0 && unpack_str(&u, &k, &kl) == 0) {
		if (kl == 3 && memcmp(k, "seq", 3) == 0) {
			if (unpack_uint(&u, &seq) != 0)
				return 0;
		} else if (unpack_skip(&u) != 0) {
			return 0;
		}
	}
	return seq;
}

/*
 * Messages received after the target: the audit log has every successful
 * msg.recv. Whoever received one acted on it; after the rewind a message that
 * was queued at the target is delivered again, and one sent later is gone.
 */
static int plan_received(struct plan_state *s, struct store_txn *t)
{
	static const char prefix[] = "msg.recv ";
	struct store_iter it;
	struct result_row res;
	struct log_row row;
	const void *k, *v;
	size_t kl, vl;
	uint8_t start[12];
	json_t *e;
	int rv;

	be64_put(start, s->target + 1);
	be32_put(start + 8, 0);
	rv = store_iter_init(&it, t, STORE_LOG, NULL, 0, STORE_AT_LATEST);
	if (rv == 0)
		rv = store_iter_seek(&it, start, sizeof start);
	while (rv == 0 && (rv = store_iter_next(&it, &k, &kl, &v, &vl)) == 0) {
		if (json_array_size(s->irreversible) >= s->limit)
			break;
		if (applier_log_decode(k, kl, v, vl, &row) != 0 || row.type != CMD_MSG_RECV ||
		    row.code != 0 || row.summary_len <= sizeof prefix - 1)
			continue;
		if (applier_result(t, row.index, row.pos, &res) != 0)
			continue;
		e = json_object();
		if (e == NULL) {
			rv = ERR_NOMEM;
			break;
		}
		json_object_set_new(e, "kind", json_string("message"));
		json_object_set_new(e, "queue",
				    http__jstr(row.summary + sizeof prefix - 1,
					       row.summary_len - (sizeof prefix - 1)));
		json_object_set_new(
			e, "seq", json_integer((json_int_t)result_seq(res.result, res.result_len)));
		json_object_set_new(e, "received_index", json_integer((json_int_t)row.index));
		json_object_set_new(
			e, "reason",
			json_string("received after the target index: what its receiver "
				    "did cannot be undone"));
		json_array_append_new(s->irreversible, e);
	}
	store_iter_close(&it);
	return rv == ERR_NOTFOUND ? 0 : rv;
}

static void plan_read(struct http_req *r, struct store_txn *t)
{
	struct plan_state *s = r->state;
	json_t *j;
	int rv;

	if (s->target > t->index) {
		http__reply_error(r, 400, ERR_RANGE,
				  "index %" PRIu64 " is above the applied index %" PRIu64
				  " (readable: %" PRIu64 "..%" PRIu64 ")",
				  s->target, t->index, t->oldest, t->index);
		return;
	}
	j = json_object();
	s->changes = json_array();
	s->irreversible = json_array();
	if (j == NULL || s->changes == NULL || s->irreversible == NULL) {
		json_decref(j);
		json_decref(s->changes);
		json_decref(s->irreversible);
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		return;
	}
	json_object_set_new(j, "target", json_integer((json_int_t)s->target));
	json_object_set_new(j, "index", json_integer((json_int_t)t->index));
	json_object_set_new(j, "changes", s->changes);
	json_object_set_new(j, "irreversible", s->irreversible);
	rv = http__changes(t, s->target, STORE_AT_LATEST, plan_one, s);
	if (rv == 0)
		rv = plan_received(s, t);
	if (rv != 0) {
		json_decref(j);
		http__reply_store_error(r, t, rv, "rewind plan");
		return;
	}
	json_object_set_new(j, "total", json_integer((json_int_t)s->total));
	json_object_set_new(j, "truncated", json_boolean(s->total > s->limit));
	http__reply_json(r, 200, j);
}

void api_rewind(struct http_req *r)
{
	static const struct http_field fields[] = {{"index", JSON_INTEGER}};
	struct plan_state *s;
	struct http_call *c;
	struct cmd cmd;
	bool plan, found;
	json_t *j, *v;

	s = h2o_mem_alloc_pool(&r->req->pool, sizeof *s);
	memset(s, 0, sizeof *s);
	r->state = s;
	if (http__query_bool(r, "plan", &plan) != 0)
		return;
	if (http__query_u64(r, "limit", &s->limit, &found) != 0)
		return;
	if (!found)
		s->limit = PLAN_LIMIT;
	if (s->limit > PLAN_LIMIT_MAX) {
		http__reply_error(r, 400, ERR_INVALID, "limit must be 0..%d", PLAN_LIMIT_MAX);
		return;
	}
	if (http__json_body(r, fields, 1, &j) != 0)
		return;
	v = json_object_get(j, "index");
	if (v == NULL || json_integer_value(v) < 0) {
		json_decref(j);
		http__reply_error(r, 400, ERR_INVALID, "\"index\": N (>= 0) is required");
		return;
	}
	s->target = (uint64_t)json_integer_value(v);
	json_decref(j);
	if (plan) {
		http__read(r, r->stale, plan_read);
		return;
	}
	c = http__call_new(r);
	if (c == NULL)
		return;
	if (http__cmd_init(r, c, &cmd, CMD_REWIND) != 0) {
		http__call_free(c);
		return;
	}
	cmd.u.history.target = s->target;
	http__submit(r, c, &cmd, NULL);
}
