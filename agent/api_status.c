/*
 * Endpoints about the cluster and its history (DESIGN §6): GET /v1/status,
 * GET /metrics, GET /v1/watch, GET /v1/log and GET /v1/diff, and the
 * comparison of the state at two indexes that diff and the rewind plan share.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/http_internal.h"
#include "common/error.h"
#include "services/files.h"
#include "services/msg.h"
#include "services/nodes.h"
#include "services/steps.h"
#include "statestore/apply.h"

#define LOG_LIMIT_DEFAULT   100
#define LOG_LIMIT_MAX       10000
#define DIFF_LIMIT_DEFAULT  1000
#define DIFF_LIMIT_MAX      100000
#define WATCH_TIMEOUT_S     60
#define WATCH_TIMEOUT_MAX_S 600

/* ---- GET /v1/status --------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
	return s != NULL ? http__jstr(s, strlen(s)) : json_null();
}

static void status_read(struct http_req *r, struct store_txn *t)
{
	struct agent_status st;
	struct hash128 d;
	char hex[33];
	json_t *j, *node, *leader;
	int rv;

	agent_status(r->h->a, &st);
	rv = store_digest_at(t, r->at, &d);
	if (rv != 0) {
		http__reply_store_error(r, t, rv, "digest");
		return;
	}
	digest_hex(d, hex);
	j = json_object();
	node = json_object();
	leader = json_object();
	if (j == NULL || node == NULL || leader == NULL) {
		json_decref(j);
		json_decref(node);
		json_decref(leader);
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		return;
	}
	json_object_set_new(node, "id", json_integer((json_int_t)st.id));
	json_object_set_new(node, "name", str_or_null(st.name));
	json_object_set_new(j, "node", node);
	json_object_set_new(leader, "id",
			    st.leader_id != 0 ? json_integer((json_int_t)st.leader_id)
					      : json_null());
	json_object_set_new(leader, "name", str_or_null(st.leader_name));
	json_object_set_new(leader, "http", str_or_null(st.leader_http));
	json_object_set_new(j, "leader", leader);
	json_object_set_new(j, "is_leader", json_boolean(st.is_leader));
	json_object_set_new(j, "term", json_integer((json_int_t)st.term));
	json_object_set_new(j, "applied_index", json_integer((json_int_t)t->index));
	json_object_set_new(j, "commit_index", json_integer((json_int_t)st.commit_index));
	json_object_set_new(j, "oldest_index", json_integer((json_int_t)t->oldest));
	if (r->has_at)
		json_object_set_new(j, "at", json_integer((json_int_t)r->at));
	json_object_set_new(j, "digest", json_string(hex));
	http__reply_json(r, 200, j);
}

void api_status(struct http_req *r)
{
	/* The status of this node: always its local state (a node cut off from
	 * the leader must still be able to say so). */
	http__read(r, true, status_read);
}

/* ---- GET /metrics ----------------------------------------------------- */

static void metrics_read(struct http_req *r, struct store_txn *t)
{
	const struct agent_metrics *m = agent_metrics(r->h->a);
	uint64_t counts[PROC_STATE_COUNT] = {0};
	struct agent_status st;
	struct store_iter it;
	const void *k, *v;
	size_t kl, vl;
	struct buf b;
	char line[256];
	int rv, i;

	rv = store_iter_init(&it, t, STORE_PROCS, NULL, 0, STORE_AT_LATEST);
	if (rv != 0) {
		http__reply_store_error(r, t, rv, "procs");
		return;
	}
	while (store_iter_next(&it, &k, &kl, &v, &vl) == 0) {
		struct proc_row p;

		if (proc_row_decode(v, vl, &p) == 0 && p.state >= 0 && p.state < PROC_STATE_COUNT)
			counts[p.state]++;
	}
	store_iter_close(&it);
	agent_status(r->h->a, &st);

	buf_init(&b);
#define METRIC(name, type, help, fmt, val)                                                    \
	do {                                                                                  \
		int n_ = snprintf(line, sizeof line,                                          \
				  "# HELP " name " " help "\n# TYPE " name " " type "\n" name \
				  " " fmt "\n",                                               \
				  val);                                                       \
		buf_append(&b, line, (size_t)n_);                                             \
	} while (0)
	METRIC("logos_applied_index", "gauge", "Last log index applied here.", "%" PRIu64,
	       t->index);
	METRIC("logos_commit_index", "gauge", "Last log index known committed.", "%" PRIu64,
	       st.commit_index);
	METRIC("logos_term", "gauge", "Current raft term.", "%" PRIu64, st.term);
	METRIC("logos_is_leader", "gauge", "1 if this node is the leader.", "%d",
	       st.is_leader ? 1 : 0);
	METRIC("logos_proposals_total", "counter", "Log entries proposed here.", "%" PRIu64,
	       m->proposals);
	METRIC("logos_commands_total", "counter", "Commands proposed here.", "%" PRIu64,
	       m->commands);
	METRIC("logos_forwarded_total", "counter", "Commands forwarded to the leader.", "%" PRIu64,
	       m->forwarded);
	METRIC("logos_forward_batches_total", "counter",
	       "Requests that carried forwarded commands to the leader, each a batch of those queued.",
	       "%" PRIu64, m->forward_batches);
	METRIC("logos_forward_connections_total", "counter",
	       "Connections opened to the leader to forward commands (kept alive).", "%" PRIu64,
	       m->forward_connections);
	METRIC("logos_read_index_requests_total", "counter",
	       "Read indexes asked of the leader for linearizable reads here, each shared by the "
	       "reads waiting for it.",
	       "%" PRIu64, m->read_index_requests);
	METRIC("logos_read_index_connections_total", "counter",
	       "Connections opened to the leader to ask read indexes (kept alive).", "%" PRIu64,
	       m->read_index_connections);
	{
		int n = snprintf(line, sizeof line,
				 "# HELP logos_commit_latency_seconds Propose-to-apply latency of "
				 "entries.\n# TYPE logos_commit_latency_seconds summary\n"
				 "logos_commit_latency_seconds_sum %.9f\n"
				 "logos_commit_latency_seconds_count %" PRIu64 "\n",
				 (double)m->commit_ns_sum / 1e9, m->commit_count);

		buf_append(&b, line, (size_t)n);
	}
	METRIC("logos_batch_max", "gauge", "Largest batch of commands in one entry.", "%" PRIu64,
	       m->batch_max);
	METRIC("logos_spawned_total", "counter", "Process attempts started on this node.",
	       "%" PRIu64, m->spawned);
	METRIC("logos_live", "gauge",
	       "Processes in this node's reconciler index (placed here, not known to have ended).",
	       "%" PRIu64, m->live);
	METRIC("logos_live_missed_total", "counter",
	       "Live processes of this node an audit walk found missing from the index (a bug).",
	       "%" PRIu64, m->live_missed);
	METRIC("logos_live_audits_total", "counter",
	       "Audit walks of every process that compared it with the index.", "%" PRIu64,
	       m->live_audits);
	METRIC("logos_store_commits_total", "counter",
	       "LMDB write transactions that committed applied entries (one per group).",
	       "%" PRIu64, r->h->a->store.commits);
#undef METRIC
	{
		static const char head[] = "# HELP logos_procs Processes by state.\n"
					   "# TYPE logos_procs gauge\n";

		buf_append(&b, head, sizeof head - 1);
	}
	for (i = 0; i < PROC_STATE_COUNT; i++) {
		int n = snprintf(line, sizeof line, "logos_procs{state=\"%s\"} %" PRIu64 "\n",
				 proc_state_name(i), counts[i]);

		buf_append(&b, line, (size_t)n);
	}
	http__reply_raw(r, 200, "text/plain; version=0.0.4", b.data, b.len);
	buf_release(&b);
}

void api_metrics(struct http_req *r)
{
	http__read(r, true, metrics_read);
}

/* ---- GET /v1/watch?index=N&timeout=S ---------------------------------- */

struct watch_state {
	uint64_t index;
};

static void watch_reply(struct http_req *r)
{
	struct agent_status st;
	json_t *j = json_object();

	agent_status(r->h->a, &st);
	if (j != NULL)
		json_object_set_new(j, "index", json_integer((json_int_t)st.applied_index));
	http__reply_json(r, 200, j);
}

static void watch_on_apply(struct http_req *r, uint64_t applied)
{
	struct watch_state *w = r->state;
	struct agent_status st;

	if (applied == 0) {
		agent_status(r->h->a, &st);
		applied = st.applied_index;
	}
	if (applied > w->index)
		watch_reply(r);
}

void api_watch(struct http_req *r)
{
	struct watch_state *w;
	struct agent_status st;
	uint64_t index, timeout;
	bool found;

	if (http__query_u64(r, "index", &index, &found) != 0)
		return;
	if (!found) {
		http__reply_error(r, 400, ERR_INVALID, "?index=N is required");
		return;
	}
	if (http__query_u64(r, "timeout", &timeout, &found) != 0)
		return;
	if (!found)
		timeout = WATCH_TIMEOUT_S;
	if (timeout > WATCH_TIMEOUT_MAX_S) {
		http__reply_error(r, 400, ERR_INVALID, "timeout %" PRIu64 " is over %d seconds",
				  timeout, WATCH_TIMEOUT_MAX_S);
		return;
	}
	agent_status(r->h->a, &st);
	if (st.applied_index > index || timeout == 0) {
		watch_reply(r);
		return;
	}
	w = h2o_mem_alloc_pool(&r->req->pool, sizeof *w);
	w->index = index;
	r->state = w;
	http__watch(r, watch_on_apply);
	http__deadline(r, timeout * 1000, watch_reply);
}

/* ---- GET /v1/log?from=I&limit=N --------------------------------------- */

struct log_state {
	uint64_t from;
	uint64_t limit;
	bool tail; /* no ?from: the newest `limit` commands */
};

static json_t *log_entry_json(const struct log_row *l)
{
	const char *type = cmd_type_name((uint32_t)l->type);
	json_t *e = json_object();

	if (e == NULL)
		return NULL;
	json_object_set_new(e, "index", json_integer((json_int_t)l->index));
	json_object_set_new(e, "pos", json_integer((json_int_t)l->pos));
	json_object_set_new(e, "term", json_integer((json_int_t)l->term));
	json_object_set_new(e, "time", json_integer((json_int_t)l->time_ms));
	json_object_set_new(e, "origin", json_integer((json_int_t)l->origin));
	json_object_set_new(e, "principal", http__jstr(l->principal, l->principal_len));
	json_object_set_new(e, "type", json_string(type != NULL ? type : "unknown"));
	json_object_set_new(e, "code", json_integer((json_int_t)l->code));
	json_object_set_new(e, "error",
			    l->code != 0 ? json_string(err_name((int)l->code)) : json_null());
	json_object_set_new(e, "summary", http__jstr(l->summary, l->summary_len));
	return e;
}

static void log_read(struct http_req *r, struct store_txn *t)
{
	struct log_state *s = r->state;
	uint64_t upto = r->has_at ? r->at : t->index, from = s->from;
	struct store_iter it;
	const void *k, *v;
	size_t kl, vl;
	uint8_t key[8];
	json_t *j, *entries;
	int rv;

	if (r->has_at && r->at > t->index) {
		/* The store's message gives the readable range. */
		rv = store_iter_init(&it, t, STORE_LOG, NULL, 0, r->at);
		if (rv == 0)
			store_iter_close(&it);
		http__reply_store_error(r, t, rv != 0 ? rv : ERR_RANGE, "log");
		return;
	}
	if (s->tail)
		from = upto >= s->limit ? upto - s->limit + 1 : 1;
	j = json_object();
	entries = json_array();
	if (j == NULL || entries == NULL) {
		json_decref(j);
		json_decref(entries);
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		return;
	}
	json_object_set_new(j, "entries", entries);
	rv = store_iter_init(&it, t, STORE_LOG, NULL, 0, STORE_AT_LATEST);
	if (rv != 0) {
		json_decref(j);
		http__reply_store_error(r, t, rv, "log");
		return;
	}
	be64_put(key, from);
	rv = store_iter_seek(&it, key, sizeof key);
	while (rv == 0 && (rv = store_iter_next(&it, &k, &kl, &v, &vl)) == 0) {
		struct log_row l;
		json_t *e;

		if (applier_log_decode(k, kl, v, vl, &l) != 0)
			continue;
		if (l.index > upto)
			break;
		e = log_entry_json(&l);
		if (e == NULL) {
			rv = ERR_NOMEM;
			break;
		}
		json_array_append_new(entries, e);
		/* Tail: keep the newest `limit`. */
		if (json_array_size(entries) > s->limit) {
			if (!s->tail)
				break;
			json_array_remove(entries, 0);
		}
	}
	store_iter_close(&it);
	if (rv != 0 && rv != ERR_NOTFOUND) {
		json_decref(j);
		http__reply_store_error(r, t, rv, "log");
		return;
	}
	if (json_array_size(entries) > s->limit)
		json_array_remove(entries, json_array_size(entries) - 1);
	json_object_set_new(j, "applied_index", json_integer((json_int_t)t->index));
	http__reply_json(r, 200, j);
}

void api_log(struct http_req *r)
{
	struct log_state *s = h2o_mem_alloc_pool(&r->req->pool, sizeof *s);
	bool found;

	memset(s, 0, sizeof *s);
	if (http__query_u64(r, "from", &s->from, &found) != 0)
		return;
	s->tail = !found;
	if (http__query_u64(r, "limit", &s->limit, &found) != 0)
		return;
	if (!found)
		s->limit = LOG_LIMIT_DEFAULT;
	if (s->limit == 0 || s->limit > LOG_LIMIT_MAX) {
		http__reply_error(r, 400, ERR_INVALID, "limit must be 1..%d", LOG_LIMIT_MAX);
		return;
	}
	r->state = s;
	http__read(r, r->stale, log_read);
}

/* ---- Changes between two indexes -------------------------------------- */

static int keycmp(const void *a, size_t an, const void *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

int http__changes(struct store_txn *t, uint64_t from, uint64_t to,
		  int (*fn)(void *arg, const struct http_change *c), void *arg)
{
	int table, rv = 0;

	for (table = 0; table < STORE_N_VERSIONED && rv == 0; table++) {
		struct store_iter a, b;
		const void *ak = NULL, *av = NULL, *bk = NULL, *bv = NULL;
		size_t akl = 0, avl = 0, bkl = 0, bvl = 0;
		bool ah, bh;
		int ra, rb;

		rv = store_iter_init(&a, t, table, NULL, 0, from);
		if (rv != 0)
			return rv;
		rv = store_iter_init(&b, t, table, NULL, 0, to);
		if (rv != 0) {
			store_iter_close(&a);
			return rv;
		}
		ra = store_iter_next(&a, &ak, &akl, &av, &avl);
		rb = store_iter_next(&b, &bk, &bkl, &bv, &bvl);
		for (;;) {
			struct http_change c = {.table = table};
			int cmp;

			ah = ra == 0;
			bh = rb == 0;
			if ((ra != 0 && ra != ERR_NOTFOUND) || (rb != 0 && rb != ERR_NOTFOUND)) {
				rv = ra != 0 && ra != ERR_NOTFOUND ? ra : rb;
				break;
			}
			if (!ah && !bh)
				break;
			cmp = !ah ? 1 : !bh ? -1 : keycmp(ak, akl, bk, bkl);
			if (cmp < 0) {
				c.key = ak;
				c.klen = akl;
				c.before = av;
				c.blen = avl;
			} else if (cmp > 0) {
				c.key = bk;
				c.klen = bkl;
				c.after = bv;
				c.alen = bvl;
			} else if (avl != bvl || memcmp(av, bv, avl) != 0) {
				c.key = ak;
				c.klen = akl;
				c.before = av;
				c.blen = avl;
				c.after = bv;
				c.alen = bvl;
			}
			if (c.key != NULL) {
				rv = fn(arg, &c);
				if (rv != 0)
					break;
			}
			if (cmp <= 0)
				ra = store_iter_next(&a, &ak, &akl, &av, &avl);
			if (cmp >= 0)
				rb = store_iter_next(&b, &bk, &bkl, &bv, &bvl);
		}
		store_iter_close(&a);
		store_iter_close(&b);
	}
	return rv;
}

json_t *http__key_json(int table, const void *key, size_t klen)
{
	const uint8_t *k = key;
	char s[STORE_KEY_MAX * 2 + 64];
	uint64_t pid, seq;
	uint32_t attempt;
	struct strref name;
	int stream;

	switch (table) {
	case STORE_NODES:
	case STORE_PROCS:
		if (klen == 8)
			return json_integer((json_int_t)be64_get(k));
		break;
	case STORE_OUTPUT:
		if (output_key_parse(key, klen, &pid, &attempt, &stream, &seq) == 0) {
			snprintf(s, sizeof s, "%" PRIu64 "/%" PRIu32 "/%s/%" PRIu64, pid, attempt,
				 stream == STREAM_STDERR ? "stderr" : "stdout", seq);
			return json_string(s);
		}
		break;
	case STORE_STEPS:
		if (step_key_decode(key, klen, &pid, &name) == 0) {
			snprintf(s, sizeof s, "%" PRIu64 "/%.*s", pid, (int)name.n, name.p);
			return http__jstr(s, strlen(s));
		}
		break;
	case STORE_MESSAGES:
		if (message_key_decode(key, klen, &name, &seq) == 0) {
			snprintf(s, sizeof s, "%.*s/%" PRIu64, (int)name.n, name.p, seq);
			return http__jstr(s, strlen(s));
		}
		break;
	case STORE_QUEUES:
	case STORE_FILES:
		return http__jstr(key, klen);
	default:
		break;
	}
	http_hex(key, klen < STORE_KEY_MAX ? klen : STORE_KEY_MAX, s);
	return json_string(s);
}

json_t *http__value_summary(int table, const void *val, size_t len)
{
	json_t *j;

	if (val == NULL)
		return json_null();
	j = json_object();
	if (j == NULL)
		return NULL;
	switch (table) {
	case STORE_NODES: {
		struct node_row n;

		if (node_row_decode(val, len, &n) != 0)
			break;
		json_object_set_new(j, "name", http__jstr(n.name.p, n.name.n));
		json_object_set_new(j, "state", json_string(node_state_name(n.state)));
		json_object_set_new(j, "role", json_string(node_role_name(n.role)));
		return j;
	}
	case STORE_PROCS: {
		struct proc_row p;

		if (proc_row_decode(val, len, &p) != 0)
			break;
		json_object_set_new(j, "state", json_string(proc_state_name(p.state)));
		json_object_set_new(j, "attempt", json_integer(p.attempt));
		json_object_set_new(j, "node", json_integer((json_int_t)p.node));
		json_object_set_new(j, "exit_code", json_integer(p.exit_code));
		return j;
	}
	case STORE_STEPS: {
		struct step_row s;

		if (step_row_decode(val, len, &s) != 0)
			break;
		json_object_set_new(j, "exit_code", json_integer(s.exit_code));
		json_object_set_new(j, "attempt", json_integer(s.attempt));
		return j;
	}
	case STORE_QUEUES: {
		struct queue_row q;

		if (queue_row_decode(val, len, &q) != 0)
			break;
		json_object_set_new(j, "count", json_integer((json_int_t)q.count));
		json_object_set_new(j, "bytes", json_integer((json_int_t)q.bytes));
		json_object_set_new(j, "next_seq", json_integer((json_int_t)q.next_seq));
		return j;
	}
	case STORE_MESSAGES: {
		struct message_row m;

		if (message_row_decode(val, len, &m) != 0)
			break;
		json_object_set_new(j, "bytes", json_integer((json_int_t)m.data.n));
		return j;
	}
	case STORE_FILES: {
		struct file_row f;

		if (file_row_decode(val, len, &f) != 0)
			break;
		json_object_set_new(j, "version", json_integer((json_int_t)f.version));
		json_object_set_new(j, "size", json_integer((json_int_t)f.size));
		json_object_set_new(j, "modified_index",
				    json_integer((json_int_t)f.modified_index));
		return j;
	}
	default:
		break;
	}
	/* Output chunks, idempotency records, and undecodable rows: size only. */
	json_object_clear(j);
	json_object_set_new(j, "bytes", json_integer((json_int_t)len));
	return j;
}

/* ---- GET /v1/diff?from=&to= ------------------------------------------- */

struct diff_state {
	uint64_t from, to, limit, total;
	bool has_to;
	json_t *changes;
};

static int diff_one(void *arg, const struct http_change *c)
{
	struct diff_state *s = arg;
	json_t *e;

	s->total++;
	if (json_array_size(s->changes) >= s->limit)
		return 0;
	e = json_object();
	if (e == NULL)
		return ERR_NOMEM;
	json_object_set_new(e, "table", json_string(store_table_name(c->table)));
	json_object_set_new(e, "key", http__key_json(c->table, c->key, c->klen));
	json_object_set_new(e, "before", http__value_summary(c->table, c->before, c->blen));
	json_object_set_new(e, "after", http__value_summary(c->table, c->after, c->alen));
	return json_array_append_new(s->changes, e) == 0 ? 0 : ERR_NOMEM;
}

static void diff_read(struct http_req *r, struct store_txn *t)
{
	struct diff_state *s = r->state;
	uint64_t to = s->has_to ? s->to : t->index;
	json_t *j;
	int rv;

	if (s->from > to) {
		http__reply_error(r, 400, ERR_INVALID, "from %" PRIu64 " is after to %" PRIu64,
				  s->from, to);
		return;
	}
	j = json_object();
	s->changes = json_array();
	if (j == NULL || s->changes == NULL) {
		json_decref(j);
		json_decref(s->changes);
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		return;
	}
	json_object_set_new(j, "from", json_integer((json_int_t)s->from));
	json_object_set_new(j, "to", json_integer((json_int_t)to));
	json_object_set_new(j, "changes", s->changes);
	rv = http__changes(t, s->from, to, diff_one, s);
	if (rv != 0) {
		json_decref(j);
		http__reply_store_error(r, t, rv, "diff");
		return;
	}
	json_object_set_new(j, "total", json_integer((json_int_t)s->total));
	json_object_set_new(j, "truncated", json_boolean(s->total > s->limit));
	http__reply_json(r, 200, j);
}

void api_diff(struct http_req *r)
{
	struct diff_state *s = h2o_mem_alloc_pool(&r->req->pool, sizeof *s);
	bool found;

	memset(s, 0, sizeof *s);
	if (r->has_at) {
		http__reply_error(r, 400, ERR_INVALID, "diff takes ?from= and ?to=, not ?at=");
		return;
	}
	if (http__query_u64(r, "from", &s->from, &found) != 0)
		return;
	if (!found) {
		http__reply_error(r, 400, ERR_INVALID, "?from=INDEX is required");
		return;
	}
	if (http__query_u64(r, "to", &s->to, &s->has_to) != 0)
		return;
	if (http__query_u64(r, "limit", &s->limit, &found) != 0)
		return;
	if (!found)
		s->limit = DIFF_LIMIT_DEFAULT;
	if (s->limit > DIFF_LIMIT_MAX) {
		http__reply_error(r, 400, ERR_INVALID, "limit must be 0..%d", DIFF_LIMIT_MAX);
		return;
	}
	r->state = s;
	http__read(r, r->stale, diff_read);
}
