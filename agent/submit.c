/*
 * How commands reach the log (DESIGN §2): the agent stamps each command
 * (time, origin, term, request id), the leader batches the commands that
 * arrive together into one log entry (bounded by count and bytes) and answers
 * each with its own result, read from the results table after the entry is
 * applied; a follower forwards its commands to the leader (forward.c). Also
 * the reads of the API (linearizable through a barrier, or a follower's read
 * index) and joins.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "agent/client.h"
#include "agent/internal.h"
#include "common/error.h"
#include "services/nodes.h"

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void submit__pending_free(struct pending *p)
{
	buf_release(&p->bytes);
	free(p);
}

void submit__fail(struct pending *p, int status, const char *leader)
{
	struct agent_result r;

	memset(&r, 0, sizeof r);
	r.status = status;
	r.leader_http = leader;
	p->cb(p->arg, &r);
	submit__pending_free(p);
}

/* A batch proposed as one entry. */
struct batch {
	struct agent *a;
	uint32_t n;
	uint64_t t0;
	struct pending *cmds[];
};

static void on_applied(void *arg, int status, uint64_t index)
{
	struct batch *b = arg;
	struct agent *a = b->a;
	struct store_txn t;
	struct result_row res;
	struct agent_result r;
	bool have_txn = false, forwarded = false;
	uint32_t i;

	if (status == 0) {
		a->metrics.commit_ns_sum += uv_hrtime() - b->t0;
		a->metrics.commit_count++;
		have_txn = store_read(&a->store, &t) == 0;
	}
	for (i = 0; i < b->n; i++) {
		struct pending *p = b->cmds[i];
		memset(&r, 0, sizeof r);
		if (status != 0) {
			r.status = status == ERR_CANCELED ? ERR_CANCELED : ERR_UNAVAILABLE;
		} else if (!have_txn || applier_result(&t, index, i, &res) != 0 ||
			   res.origin != p->origin || res.request_id != p->request_id) {
			/* Our entry was replaced under a new leader: the outcome of
			 * this command is unknown; the client retries (with its
			 * idempotency key). */
			r.status = ERR_UNAVAILABLE;
		} else {
			r.index = index;
			r.code = res.code;
			r.message = res.message;
			r.message_len = res.message_len;
			r.result = res.result;
			r.result_len = res.result_len;
		}
		if (r.status != 0)
			r.leader_http = submit__leader_http(a);
		forwarded = forwarded || (r.status == 0 && p->origin != a->id);
		p->cb(p->arg, &r);
		submit__pending_free(p);
	}
	if (have_txn)
		store_read_end(&t);
	free(b);
	/* A follower's client (or executor) may wait for this entry on its
	 * own node: tell the followers it is committed. */
	if (forwarded)
		agent__nudge(a);
}

static void on_nudged(void *arg, const struct agent_result *res)
{
	struct agent *a = arg;
	struct agent_impl *m = impl(a);

	(void)res;
	m->nudge_inflight = false;
	if (m->nudge_again && !a->stopping) {
		m->nudge_again = false;
		agent__nudge(a);
	}
}

static void on_nudge_timer(uv_timer_t *h)
{
	struct agent *a = h->data;
	struct agent_impl *m = impl(a);
	struct cmd c;

	if (a->stopping || !consensus_is_leader(&a->consensus))
		return;
	/* An entry proposed since carries the commit index already (the
	 * entry in question was applied, so committed, before). */
	if (a->metrics.proposals != m->nudge_mark)
		return;
	if (m->nudge_inflight) {
		m->nudge_again = true;
		return;
	}
	memset(&c, 0, sizeof c);
	c.type = CMD_NOOP;
	m->nudge_inflight = agent_submit_leader(a, &c, on_nudged, a) == 0;
}

/* See agent__nudge in agent/internal.h. */
void agent__nudge(struct agent *a)
{
	struct agent_impl *m = impl(a);

	if (a->stopping || !consensus_is_leader(&a->consensus))
		return;
	/* Entries proposed before this ask went out with an older commit
	 * index: only those proposed after it count. */
	m->nudge_mark = a->metrics.proposals;
	if (!uv_is_active((uv_handle_t *)&m->nudge_timer))
		uv_timer_start(&m->nudge_timer, on_nudge_timer, AGENT_NUDGE_MS, 0);
}

/* Proposes everything queued as one entry (runs once per loop turn). */
void submit__flush(uv_check_t *h)
{
	struct agent *a = h->data;
	struct agent_impl *m = impl(a);
	struct entry_builder eb;
	struct buf entry;
	struct batch *b;
	struct pending *p;
	uint32_t n = 0;
	int rv;

	uv_check_stop(&m->flush);
	uv_idle_stop(&m->flush_kick);
	m->flush_active = false;
	while (m->queue != NULL) {
		if (!consensus_is_leader(&a->consensus)) {
			/* Leadership moved while these waited: forward them. */
			while ((p = m->queue) != NULL) {
				m->queue = p->next;
				if (p->leader_only)
					submit__fail(p, ERR_UNAVAILABLE, submit__leader_http(a));
				else
					forward__submit(p);
			}
			break;
		}
		b = malloc(sizeof *b + CMD_BATCH_MAX * sizeof(struct pending *));
		buf_init(&entry);
		if (b == NULL || entry_begin(&eb, &entry) != 0) {
			free(b);
			submit__fail_all(a, ERR_NOMEM);
			return;
		}
		b->a = a;
		n = 0;
		while ((p = m->queue) != NULL && n < CMD_BATCH_MAX &&
		       (n == 0 || entry.len + p->bytes.len < AGENT_BATCH_BYTES)) {
			if (entry_add(&eb, p->bytes.data, p->bytes.len) != 0)
				break;
			m->queue = p->next;
			b->cmds[n++] = p;
		}
		if (m->queue == NULL)
			m->queue_tail = NULL;
		b->n = n;
		b->t0 = uv_hrtime();
		rv = entry_finish(&eb);
		if (rv == 0)
			rv = consensus_propose(&a->consensus, entry.data, entry.len, on_applied, b);
		buf_release(&entry);
		if (rv != 0) {
			logger_warn(&a->lg, "propose %u commands failed: %s", n,
				    a->consensus.errmsg);
			for (uint32_t i = 0; i < n; i++)
				submit__fail(b->cmds[i], rv == ERR_NOTLEADER ? ERR_UNAVAILABLE : rv,
					     submit__leader_http(a));
			free(b);
			continue;
		}
		a->metrics.proposals++;
		a->metrics.commands += n;
		if (n > a->metrics.batch_max)
			a->metrics.batch_max = n;
	}
}

/* Nothing to do: being active is its job; submit__flush stops it. */
static void on_flush_kick(uv_idle_t *h)
{
	(void)h;
}

static void enqueue(struct agent *a, struct pending *p)
{
	struct agent_impl *m = impl(a);

	p->next = NULL;
	if (m->queue_tail != NULL)
		m->queue_tail->next = p;
	else
		m->queue = p;
	m->queue_tail = p;
	if (!m->flush_active) {
		/* After this loop turn's other callbacks: whatever arrived in
		 * the same turn goes into the same entry. A command queued by
		 * a timer or an idle callback (a report of the executor, the
		 * reconciler's) runs before the poll of its turn: the active
		 * idle handle makes that poll return at once instead of
		 * blocking until some I/O arrives, which held a `started`
		 * report back until the process's exit. */
		uv_check_start(&m->flush, submit__flush);
		uv_idle_start(&m->flush_kick, on_flush_kick);
		m->flush_active = true;
	}
}

/* See agent/internal.h. */
void submit__propose(struct agent *a, struct pending *p)
{
	enqueue(a, p);
}

static int submit_bytes(struct agent *a, struct pending *p)
{
	if (a->stopping) {
		submit__pending_free(p);
		return ERR_CANCELED;
	}
	if (consensus_is_leader(&a->consensus))
		enqueue(a, p);
	else
		forward__submit(p);
	return 0;
}

static int submit(struct agent *a, struct cmd *c, agent_result_cb cb, void *arg, bool leader_only)
{
	struct pending *p;
	int rv;

	c->version = CMD_VERSION;
	c->time_ms = wall_ms();
	c->origin = a->id;
	c->term = consensus_term(&a->consensus);
	c->request_id = ++a->request_seq;
	if (c->principal.p == NULL) {
		c->principal.p = "agent";
		c->principal.n = 5;
	}
	p = calloc(1, sizeof *p);
	if (p == NULL)
		return ERR_NOMEM;
	p->a = a;
	p->origin = c->origin;
	p->request_id = c->request_id;
	p->cb = cb;
	p->arg = arg;
	p->leader_only = leader_only;
	p->type = c->type;
	buf_init(&p->bytes);
	rv = cmd_encode(c, &p->bytes);
	if (rv != 0) {
		submit__pending_free(p);
		return rv;
	}
	if (leader_only && !consensus_is_leader(&a->consensus)) {
		submit__pending_free(p);
		return ERR_NOTLEADER;
	}
	return submit_bytes(a, p);
}

int agent_submit(struct agent *a, struct cmd *c, agent_result_cb cb, void *arg)
{
	return submit(a, c, cb, arg, false);
}

int agent_submit_leader(struct agent *a, struct cmd *c, agent_result_cb cb, void *arg)
{
	return submit(a, c, cb, arg, true);
}

int agent_forwarded(struct agent *a, const void *bytes, size_t len, agent_result_cb cb, void *arg)
{
	struct pending *p;
	struct cmd c;
	char err[128];
	int rv;

	rv = cmd_decode(bytes, len, &c, err, sizeof err);
	if (rv != 0)
		return rv;
	if (!consensus_is_leader(&a->consensus))
		return ERR_NOTLEADER;
	p = calloc(1, sizeof *p);
	if (p == NULL)
		return ERR_NOMEM;
	p->a = a;
	p->origin = c.origin;
	p->request_id = c.request_id;
	p->cb = cb;
	p->arg = arg;
	buf_init(&p->bytes);
	if (buf_append(&p->bytes, bytes, len) != 0) {
		submit__pending_free(p);
		return ERR_NOMEM;
	}
	enqueue(a, p);
	return 0;
}

void submit__fail_all(struct agent *a, int status)
{
	struct agent_impl *m = impl(a);
	struct pending *p;

	while ((p = m->queue) != NULL) {
		m->queue = p->next;
		submit__fail(p, status, NULL);
	}
	m->queue_tail = NULL;
}

/* Reads. */

/*
 * A follower's linearizable read asks the leader for a read index (a barrier
 * there) and waits until this replica has applied it. The reads that arrive
 * while one such request is in flight wait for the next and share it: a read
 * index obtained after a read arrived is valid for it, one obtained before is
 * not. The requests go one at a time on a kept-alive connection (a new TCP
 * connection per read ran out of ports under load on a real network, as the
 * forwarded writes did). A read that times out is answered at once; it leaves
 * the lists when the request it waits on is answered (`listed`), and its
 * memory goes when both that and its timer's close are done.
 */
struct read_req {
	struct agent *a;
	agent_read_cb cb;
	void *arg;
	uint64_t index; /* follower: wait for this applied index */
	struct agent_watch watch;
	uv_timer_t timer;
	struct read_req *next; /* in ri_wait or ri_batch */
	bool listed;
	bool closed;
	bool done;
};

static void read_now(struct agent *a, agent_read_cb cb, void *arg)
{
	struct store_txn t;

	if (store_read(&a->store, &t) != 0) {
		cb(arg, ERR_IO, NULL);
		return;
	}
	cb(arg, 0, &t);
	store_read_end(&t);
}

static void on_barrier(void *arg, int status)
{
	struct read_req *r = arg;

	if (status == 0)
		read_now(r->a, r->cb, r->arg);
	else
		r->cb(r->arg, status == ERR_CANCELED ? ERR_CANCELED : ERR_UNAVAILABLE, NULL);
	free(r);
}

static void read_req_closed(uv_handle_t *h)
{
	struct read_req *r = h->data;

	r->closed = true;
	if (!r->listed)
		free(r);
}

static void read_req_finish(struct read_req *r, int status)
{
	if (r->done)
		return;
	r->done = true;
	agent_watch_remove(r->a, &r->watch);
	uv_timer_stop(&r->timer);
	if (status == 0)
		read_now(r->a, r->cb, r->arg);
	else
		r->cb(r->arg, status, NULL);
	uv_close((uv_handle_t *)&r->timer, read_req_closed);
}

static void on_read_watch(struct agent_watch *w, uint64_t applied)
{
	struct read_req *r = w->data;

	if (applied >= r->index)
		read_req_finish(r, 0);
}

static void on_read_timeout(uv_timer_t *t)
{
	read_req_finish(t->data, ERR_UNAVAILABLE);
}

/* Takes r out of a list; frees it if it is finished and closed already.
 * Returns whether it is still to be served. */
static bool read_req_unlist(struct read_req *r)
{
	r->listed = false;
	r->next = NULL;
	if (r->done) {
		if (r->closed)
			free(r);
		return false;
	}
	return true;
}

static void read_index_send(struct agent *a);

/* The answer to the read-index request in flight, for the reads it serves. */
static void on_read_index(void *arg, int status, int http_status, const void *body, size_t len)
{
	struct agent *a = arg;
	struct agent_impl *m = impl(a);
	struct read_req *r, *next;
	json_t *j = NULL;
	json_error_t jerr;
	uint64_t index = 0;
	bool ok = false;

	if (status == 0 && http_status == 200 && (j = json_loadb(body, len, 0, &jerr)) != NULL &&
	    json_integer_value(json_object_get(j, "status")) == 0) {
		index = (uint64_t)json_integer_value(json_object_get(j, "index"));
		ok = true;
	}
	json_decref(j);
	m->ri_inflight = false;
	r = m->ri_batch;
	m->ri_batch = NULL;
	for (; r != NULL; r = next) {
		next = r->next;
		if (!read_req_unlist(r))
			continue;
		if (!ok) {
			read_req_finish(r, status == ERR_CANCELED ? ERR_CANCELED : ERR_UNAVAILABLE);
		} else if (store_applied_index(&a->store) >= index) {
			read_req_finish(r, 0);
		} else {
			/* Wait until this replica has applied what the leader
			 * confirmed. */
			r->index = index;
			agent_watch_add(a, &r->watch);
		}
	}
	if (m->ri_wait != NULL && !a->stopping)
		read_index_send(a);
}

/* Fails the reads waiting for a request (none is in flight to serve them). */
static void read_wait_fail(struct agent *a, int status)
{
	struct agent_impl *m = impl(a);
	struct read_req *r = m->ri_wait, *next;

	m->ri_wait = m->ri_wait_tail = NULL;
	for (; r != NULL; r = next) {
		next = r->next;
		if (read_req_unlist(r))
			read_req_finish(r, status);
	}
}

/* Sends one read-index request for every read waiting. */
static void read_index_send(struct agent *a)
{
	struct agent_impl *m = impl(a);
	char headers[AGENT_SECRET_HEADER_LEN];
	const char *leader = submit__leader_http(a);
	int rv;

	if (leader == NULL || consensus_is_leader(&a->consensus)) {
		read_wait_fail(a, ERR_UNAVAILABLE);
		return;
	}
	if (m->ri_conn != NULL && !client_conn_is_reusable(m->ri_conn, leader)) {
		client_conn_release(m->ri_conn);
		m->ri_conn = NULL;
	}
	if (m->ri_conn == NULL) {
		if (client_conn_new(&a->loop, leader, 4096, &m->ri_conn) != 0) {
			m->ri_conn = NULL;
			read_wait_fail(a, ERR_UNAVAILABLE);
			return;
		}
		a->metrics.read_index_connections++;
	}
	agent__secret_header(a, headers);
	rv = client_conn_request(m->ri_conn, "POST", "/v1/internal/read_index", headers, NULL, 0,
				 AGENT_FORWARD_TIMEOUT_MS, on_read_index, a);
	if (rv != 0) {
		read_wait_fail(a, ERR_UNAVAILABLE);
		return;
	}
	m->ri_batch = m->ri_wait;
	m->ri_wait = m->ri_wait_tail = NULL;
	m->ri_inflight = true;
	a->metrics.read_index_requests++;
}

void submit__reads_close(struct agent *a)
{
	struct agent_impl *m = impl(a);
	struct client_conn *c = m->ri_conn;

	read_wait_fail(a, ERR_CANCELED);
	m->ri_conn = NULL;
	if (c != NULL)
		client_conn_release(c); /* a request in flight: ERR_CANCELED */
}

int agent_read(struct agent *a, bool stale, agent_read_cb cb, void *arg)
{
	struct agent_impl *m = impl(a);
	struct read_req *r;
	const char *leader;
	int rv;

	if (stale) {
		read_now(a, cb, arg);
		return 0;
	}
	if (a->stopping) { /* no new request, no new connection to the leader */
		cb(arg, ERR_CANCELED, NULL);
		return 0;
	}
	r = calloc(1, sizeof *r);
	if (r == NULL)
		return ERR_NOMEM;
	r->a = a;
	r->cb = cb;
	r->arg = arg;
	if (consensus_is_leader(&a->consensus)) {
		rv = consensus_barrier(&a->consensus, on_barrier, r);
		if (rv != 0) {
			free(r);
			cb(arg, ERR_UNAVAILABLE, NULL);
		}
		return 0;
	}
	leader = submit__leader_http(a);
	if (leader == NULL) {
		free(r);
		cb(arg, ERR_UNAVAILABLE, NULL);
		return 0;
	}
	r->watch.cb = on_read_watch;
	r->watch.data = r;
	uv_timer_init(&a->loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, on_read_timeout, AGENT_FORWARD_TIMEOUT_MS, 0);
	r->listed = true;
	if (m->ri_wait_tail != NULL)
		m->ri_wait_tail->next = r;
	else
		m->ri_wait = r;
	m->ri_wait_tail = r;
	if (!m->ri_inflight)
		read_index_send(a);
	return 0;
}

struct index_req {
	struct agent *a;
	void (*cb)(void *arg, int status, uint64_t index);
	void *arg;
};

static void on_index_barrier(void *arg, int status)
{
	struct index_req *r = arg;

	r->cb(r->arg, status, status == 0 ? store_applied_index(&r->a->store) : 0);
	free(r);
}

int agent_read_index(struct agent *a, void (*cb)(void *arg, int status, uint64_t index), void *arg)
{
	struct index_req *r;
	int rv;

	if (!consensus_is_leader(&a->consensus))
		return ERR_NOTLEADER;
	r = malloc(sizeof *r);
	if (r == NULL)
		return ERR_NOMEM;
	r->a = a;
	r->cb = cb;
	r->arg = arg;
	rv = consensus_barrier(&a->consensus, on_index_barrier, r);
	if (rv != 0)
		free(r);
	return rv;
}

/* Joins (leader only). */

struct join_req {
	struct agent *a;
	agent_result_cb cb;
	void *arg;
	uint64_t id;
	uint64_t index;
	char raft_addr[CMD_ADDR_MAX + 1];
	struct buf result; /* the node.join result, replayed to the caller */
	int64_t code;
};

static void join_reply(struct join_req *j, int status)
{
	struct agent_result r;

	memset(&r, 0, sizeof r);
	r.status = status;
	r.index = j->index;
	r.code = j->code;
	r.result = j->result.data;
	r.result_len = j->result.len;
	j->cb(j->arg, &r);
	buf_release(&j->result);
	free(j);
}

static void on_assigned(void *arg, int status)
{
	struct join_req *j = arg;

	if (status != 0)
		logger_warn(&j->a->lg, "join node=%llu: assign role failed status=%d",
			    (unsigned long long)j->id, status);
	join_reply(j, 0);
}

static void on_added(void *arg, int status)
{
	struct join_req *j = arg;
	struct agent *a = j->a;

	if (status != 0 && status != ERR_EXISTS) {
		logger_warn(&a->lg, "join node=%llu: raft add failed status=%d",
			    (unsigned long long)j->id, status);
		join_reply(j, ERR_UNAVAILABLE);
		return;
	}
	if (consensus_role(&a->consensus, j->id) != CONSENSUS_SPARE) {
		join_reply(j, 0); /* a retried join: its role stands */
		return;
	}
	/* A standby replicates the log at once (a spare does not), so the new
	 * node catches up and starts heartbeating; the detector promotes it to
	 * voter when the cluster needs one (a voter assignment waits for the
	 * node to catch up, which it cannot before it hears this reply). */
	if (consensus_assign(&a->consensus, j->id, CONSENSUS_STANDBY, on_assigned, j) != 0)
		join_reply(j, 0);
}

static void add_to_raft(struct join_req *j)
{
	int rv = consensus_add(&j->a->consensus, j->id, j->raft_addr, on_added, j);

	if (rv != 0)
		on_added(j, rv);
}

static void on_join_committed(void *arg, const struct agent_result *r)
{
	struct join_req *j = arg;
	struct unpacker u;
	uint32_t n;
	const char *k;
	size_t kl;

	if (r->status != 0 || r->code != 0) {
		struct agent_result copy = *r;
		j->cb(j->arg, &copy);
		buf_release(&j->result);
		free(j);
		return;
	}
	j->index = r->index;
	buf_append(&j->result, r->result, r->result_len);
	unpacker_init(&u, r->result, r->result_len);
	if (unpack_map(&u, &n) == 0) {
		while (n-- > 0 && unpack_str(&u, &k, &kl) == 0) {
			if (kl == 2 && memcmp(k, "id", 2) == 0)
				unpack_uint(&u, &j->id);
			else if (unpack_skip(&u) != 0)
				break;
		}
	}
	add_to_raft(j);
}

/* A node of that name already in the cluster, with the same raft address: a
 * retried join. Returns its id or 0. */
static uint64_t existing_node(struct agent *a, const char *name, const char *raft_addr)
{
	struct store_txn t;
	struct store_iter it;
	struct node_row row;
	const void *k, *v;
	size_t kl, vl;
	uint64_t id = 0;

	if (store_read(&a->store, &t) != 0)
		return 0;
	if (store_iter_init(&it, &t, STORE_NODES, NULL, 0, STORE_AT_LATEST) == 0) {
		while (store_iter_next(&it, &k, &kl, &v, &vl) == 0) {
			if (node_row_decode(v, vl, &row) != 0 || row.state == NODE_STATE_LEFT)
				continue;
			if (row.name.n == strlen(name) &&
			    memcmp(row.name.p, name, row.name.n) == 0 &&
			    row.raft_addr.n == strlen(raft_addr) &&
			    memcmp(row.raft_addr.p, raft_addr, row.raft_addr.n) == 0)
				id = row.id;
		}
		store_iter_close(&it);
	}
	store_read_end(&t);
	return id;
}

static bool self_registered(struct agent *a)
{
	struct store_txn t;
	uint8_t key[NODE_KEY_LEN];
	const void *v;
	size_t vl;
	bool found;

	if (store_read(&a->store, &t) != 0)
		return false;
	node_key(key, a->id);
	found = store_get(&t, STORE_NODES, key, sizeof key, STORE_AT_LATEST, &v, &vl) == 0;
	store_read_end(&t);
	return found;
}

int agent_join(struct agent *a, const char *token, const char *name, const char *raft_addr,
	       const char *http_addr, agent_result_cb cb, void *arg)
{
	uint8_t given[TRANSPORT_SECRET_LEN];
	struct agent_result r;
	struct join_req *j;
	struct cmd c;
	struct packer pk;
	int rv;

	memset(&r, 0, sizeof r);
	if (agent__parse_token(token, given) != 0 ||
	    sodium_memcmp(given, a->secret, sizeof given) != 0) {
		static const char msg[] = "the join token is not this cluster's";
		r.code = ERR_DENIED;
		r.message = msg;
		r.message_len = sizeof msg - 1;
		cb(arg, &r);
		return 0;
	}
	if (!consensus_is_leader(&a->consensus)) {
		r.status = ERR_NOTLEADER;
		r.leader_http = submit__leader_http(a);
		cb(arg, &r);
		return 0;
	}
	if (!self_registered(a)) {
		/* Ids are handed out by the log: until the first node has
		 * registered itself (with the id it bootstrapped raft with), a
		 * join could be given that same id. */
		r.status = ERR_UNAVAILABLE;
		r.leader_http = NULL;
		cb(arg, &r);
		return 0;
	}
	j = calloc(1, sizeof *j);
	if (j == NULL)
		return ERR_NOMEM;
	j->a = a;
	j->cb = cb;
	j->arg = arg;
	buf_init(&j->result);
	snprintf(j->raft_addr, sizeof j->raft_addr, "%s", raft_addr);
	j->id = existing_node(a, name, raft_addr);
	if (j->id != 0) {
		/* A retried join: make sure raft has it, answer as before. */
		packer_init(&pk, &j->result);
		pack_map(&pk, 1);
		pack_cstr(&pk, "id");
		pack_uint(&pk, j->id);
		j->index = store_applied_index(&a->store);
		add_to_raft(j);
		return 0;
	}
	memset(&c, 0, sizeof c);
	c.type = CMD_NODE_JOIN;
	c.u.join.name.p = name;
	c.u.join.name.n = strlen(name);
	c.u.join.raft_addr.p = raft_addr;
	c.u.join.raft_addr.n = strlen(raft_addr);
	c.u.join.http_addr.p = http_addr;
	c.u.join.http_addr.n = strlen(http_addr);
	rv = agent_submit(a, &c, on_join_committed, j);
	if (rv != 0) {
		buf_release(&j->result);
		free(j);
	}
	return rv;
}
