/*
 * The process service of services/proc.h and the transitions proc_submit,
 * proc_started, proc_output, proc_exited, proc_kill and proc_lost of
 * services/internal.h; also the placement and restart rules shared with the
 * nodes service (services/proc_internal.h). Pure transitions (STYLE
 * "Services stay pure").
 */
#include "config.h"

#include <string.h>

#include "common/error.h"
#include "common/pack.h"
#include "services/internal.h"
#include "services/proc_internal.h"

#define SIGTERM_NUMBER 15 /* the same on every Linux architecture */

/* Rows */

void proc_key(uint8_t out[PROC_KEY_LEN], uint64_t pid)
{
	be64_put(out, pid);
}

void output_key(uint8_t out[OUTPUT_KEY_LEN], uint64_t pid, uint32_t attempt, int stream,
		uint64_t seq)
{
	be64_put(out, pid);
	be32_put(out + 8, attempt);
	out[12] = (uint8_t)stream;
	be64_put(out + 13, seq);
}

int output_key_parse(const void *key, size_t len, uint64_t *pid, uint32_t *attempt, int *stream,
		     uint64_t *seq)
{
	const uint8_t *k = key;

	if (len != OUTPUT_KEY_LEN)
		return ERR_CORRUPT;
	if (pid != NULL)
		*pid = be64_get(k);
	if (attempt != NULL)
		*attempt = be32_get(k + 8);
	if (stream != NULL)
		*stream = k[12];
	if (seq != NULL)
		*seq = be64_get(k + 13);
	return 0;
}

static void pack_raw(struct packer *pk, const struct rawref *r, bool map)
{
	if (r->n == 0) {
		if (map)
			pack_map(pk, 0);
		else
			pack_array(pk, 0);
		return;
	}
	if (pk->err == 0 && buf_append(pk->out, r->p, r->n) != 0)
		pk->err = ERR_NOMEM;
}

int proc_row_encode(const struct proc_row *r, struct buf *out)
{
	struct packer pk;

	packer_init(&pk, out);
	pack_array(&pk, PROC_ROW_FIELDS);
	pack_uint(&pk, r->pid);
	pack_raw(&pk, &r->argv, false);
	pack_raw(&pk, &r->env, true);
	pack_str(&pk, r->cwd.p != NULL ? r->cwd.p : "", r->cwd.n);
	pack_uint(&pk, (uint64_t)r->placement);
	pack_uint(&pk, r->node);
	pack_uint(&pk, (uint64_t)r->restart);
	pack_uint(&pk, r->max_restarts);
	pack_uint(&pk, r->restarts);
	pack_uint(&pk, r->timeout_ms);
	pack_uint(&pk, (uint64_t)r->state);
	pack_uint(&pk, r->attempt);
	pack_int(&pk, r->exit_code);
	pack_int(&pk, r->signal);
	pack_uint(&pk, r->os_pid);
	pack_uint(&pk, r->submitted_ms);
	pack_uint(&pk, r->started_ms);
	pack_uint(&pk, r->ended_ms);
	pack_uint(&pk, r->output_bytes);
	pack_bool(&pk, r->output_truncated);
	return pack_int(&pk, r->kill_signal);
}

/* Field readers for the decoders: 0 or ERR_CORRUPT. */
static int rd_uint(struct unpacker *u, uint64_t max, uint64_t *v)
{
	if (unpack_uint(u, v) != 0 || *v > max)
		return ERR_CORRUPT;
	return 0;
}

static int rd_int32(struct unpacker *u, int32_t *v)
{
	int64_t x;

	if (unpack_int(u, &x) != 0 || x < INT32_MIN || x > INT32_MAX)
		return ERR_CORRUPT;
	*v = (int32_t)x;
	return 0;
}

static int rd_raw(struct unpacker *u, bool map, struct rawref *r)
{
	const uint8_t *start = u->p;
	uint32_t n;

	if ((map ? unpack_map(u, &n) : unpack_array(u, &n)) != 0)
		return ERR_CORRUPT;
	u->p = start;
	if (unpack_skip(u) != 0)
		return ERR_CORRUPT;
	r->p = start;
	r->n = (size_t)(u->p - start);
	r->count = n;
	return 0;
}

/* Skips the fields a later version appended; nothing may follow the array. */
static int rd_end(struct unpacker *u, uint32_t n, uint32_t known)
{
	for (; n > known; n--)
		if (unpack_skip(u) != 0)
			return ERR_CORRUPT;
	return unpack_left(u) == 0 ? 0 : ERR_CORRUPT;
}

int proc_row_decode(const void *val, size_t len, struct proc_row *r)
{
	struct unpacker u;
	uint64_t placement, restart, max_restarts, restarts, state, attempt;
	uint32_t n;

	memset(r, 0, sizeof *r);
	unpacker_init(&u, val, len);
	if (unpack_array(&u, &n) != 0 || n < PROC_ROW_FIELDS)
		return ERR_CORRUPT;
	if (rd_uint(&u, UINT64_MAX, &r->pid) != 0 || rd_raw(&u, false, &r->argv) != 0 ||
	    rd_raw(&u, true, &r->env) != 0 || unpack_str(&u, &r->cwd.p, &r->cwd.n) != 0 ||
	    rd_uint(&u, PLACE_ALL, &placement) != 0 || rd_uint(&u, UINT64_MAX, &r->node) != 0 ||
	    rd_uint(&u, RESTART_ALWAYS, &restart) != 0 ||
	    rd_uint(&u, UINT32_MAX, &max_restarts) != 0 ||
	    rd_uint(&u, UINT32_MAX, &restarts) != 0 ||
	    rd_uint(&u, UINT64_MAX, &r->timeout_ms) != 0 ||
	    rd_uint(&u, PROC_STATE_COUNT - 1, &state) != 0 ||
	    rd_uint(&u, UINT32_MAX, &attempt) != 0 || rd_int32(&u, &r->exit_code) != 0 ||
	    rd_int32(&u, &r->signal) != 0 || rd_uint(&u, UINT64_MAX, &r->os_pid) != 0 ||
	    rd_uint(&u, UINT64_MAX, &r->submitted_ms) != 0 ||
	    rd_uint(&u, UINT64_MAX, &r->started_ms) != 0 ||
	    rd_uint(&u, UINT64_MAX, &r->ended_ms) != 0 ||
	    rd_uint(&u, UINT64_MAX, &r->output_bytes) != 0 ||
	    unpack_bool(&u, &r->output_truncated) != 0 || rd_int32(&u, &r->kill_signal) != 0 ||
	    rd_end(&u, n, PROC_ROW_FIELDS) != 0) {
		memset(r, 0, sizeof *r);
		return ERR_CORRUPT;
	}
	r->placement = (int)placement;
	r->restart = (int)restart;
	r->max_restarts = (uint32_t)max_restarts;
	r->restarts = (uint32_t)restarts;
	r->state = (int)state;
	r->attempt = (uint32_t)attempt;
	return 0;
}

bool proc_is_ended(int state)
{
	return state == PROC_STATE_EXITED || state == PROC_STATE_FAILED ||
	       state == PROC_STATE_KILLED || state == PROC_STATE_LOST;
}

const char *proc_state_name(int state)
{
	static const char *const names[PROC_STATE_COUNT] = {
		[PROC_STATE_PENDING] = "pending", [PROC_STATE_RUNNING] = "running",
		[PROC_STATE_EXITED] = "exited",   [PROC_STATE_FAILED] = "failed",
		[PROC_STATE_KILLED] = "killed",   [PROC_STATE_LOST] = "lost",
	};

	if (state < 0 || state >= PROC_STATE_COUNT)
		return "unknown";
	return names[state];
}

/* Nodes as a placement table */

static int nodeset_row(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct nodeset *ns = arg;
	struct node_row row;
	struct nodeent e;

	(void)key;
	(void)klen;
	if (node_row_decode(val, vlen, &row) != 0)
		return ERR_CORRUPT;
	memset(&e, 0, sizeof e);
	e.id = row.id;
	e.load = row.load;
	e.state = row.state;
	return buf_append(ns->ents, &e, sizeof e);
}

int nodeset_load(const struct view *v, struct outcome *o, struct nodeset *ns)
{
	int rv;

	ns->ents = &o->nodes;
	ns->ents->len = 0;
	rv = v->scan(v, TABLE_NODES, NULL, 0, nodeset_row, ns);
	if (rv != 0)
		nodeset_release(ns);
	return rv;
}

void nodeset_release(struct nodeset *ns)
{
	ns->ents->len = 0;
}

size_t nodeset_count(const struct nodeset *ns)
{
	return ns->ents->len / sizeof(struct nodeent);
}

struct nodeent *nodeset_at(struct nodeset *ns, size_t i)
{
	return (struct nodeent *)(void *)ns->ents->data + i;
}

struct nodeent *nodeset_find(struct nodeset *ns, uint64_t id)
{
	size_t lo = 0, hi = nodeset_count(ns);

	/* Sorted by id: the scan returned them in key order. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct nodeent *e = nodeset_at(ns, mid);

		if (e->id == id)
			return e;
		if (e->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

uint64_t nodeset_least_loaded(const struct nodeset *ns)
{
	const struct nodeent *ents = (const struct nodeent *)(const void *)ns->ents->data;
	const struct nodeent *best = NULL;
	size_t i;

	/* In id order with a strict comparison: ties go to the lowest id. */
	for (i = 0; i < nodeset_count(ns); i++)
		if (ents[i].state == NODE_STATE_UP && (best == NULL || ents[i].load < best->load))
			best = &ents[i];
	return best != NULL ? best->id : 0;
}

void nodeset_add_load(struct nodeset *ns, uint64_t id, int delta)
{
	struct nodeent *e = id != 0 ? nodeset_find(ns, id) : NULL;

	if (e == NULL)
		return;
	if (delta < 0 && e->load == 0)
		return; /* never wraps, even over a row written by an older bug */
	e->load = (uint32_t)((int64_t)e->load + delta);
	e->dirty = true;
}

void nodeset_set_state(struct nodeset *ns, struct nodeent *e, int state)
{
	(void)ns;
	if (e->state != state) {
		e->state = state;
		e->dirty = true;
	}
}

int nodeset_flush(const struct view *v, const struct nodeset *ns, struct outcome *o)
{
	const struct nodeent *ents = (const struct nodeent *)(const void *)ns->ents->data;
	uint8_t key[NODE_KEY_LEN];
	struct node_row row;
	struct buf *b = &o->scratch;
	const void *val;
	size_t vlen, i;
	int rv = 0;

	b->len = 0;
	for (i = 0; i < nodeset_count(ns) && rv == 0; i++) {
		if (!ents[i].dirty)
			continue;
		node_key(key, ents[i].id);
		rv = v->get(v, TABLE_NODES, key, sizeof key, &val, &vlen);
		if (rv != 0)
			break;
		if (node_row_decode(val, vlen, &row) != 0) {
			rv = ERR_CORRUPT;
			break;
		}
		row.state = ents[i].state;
		row.load = ents[i].load;
		b->len = 0;
		rv = node_row_encode(&row, b);
		if (rv == 0)
			rv = delta_put(&o->delta, TABLE_NODES, key, sizeof key, b->data, b->len);
	}
	return rv;
}

/* Shared rules */

int proc__put(struct outcome *o, const struct proc_row *p)
{
	uint8_t key[PROC_KEY_LEN];
	struct buf *b = &o->scratch;
	int rv;

	b->len = 0;
	proc_key(key, p->pid);
	rv = proc_row_encode(p, b);
	if (rv == 0)
		rv = delta_put(&o->delta, TABLE_PROCS, key, sizeof key, b->data, b->len);
	return rv;
}

/* Starts a new attempt of `p` on `node` (0: wait for a live node). */
static int new_attempt(struct nodeset *ns, struct outcome *o, struct proc_row *p, uint64_t node)
{
	p->attempt++;
	p->state = PROC_STATE_PENDING;
	p->node = node;
	p->exit_code = 0;
	p->signal = 0;
	p->os_pid = 0;
	p->started_ms = 0;
	p->ended_ms = 0;
	if (node == 0)
		return 0;
	nodeset_add_load(ns, node, +1);
	return effects_add(&o->effects, node, EFFECT_START, p->pid, p->attempt, 0);
}

static bool wants_restart(const struct proc_row *p)
{
	if (p->kill_signal != 0) /* a kill cancels restarts */
		return false;
	switch (p->restart) {
	case RESTART_ON_FAILURE:
		return (p->state == PROC_STATE_FAILED || p->state == PROC_STATE_LOST) &&
		       (p->max_restarts == 0 || p->restarts < p->max_restarts);
	case RESTART_ALWAYS:
		return p->state != PROC_STATE_KILLED;
	default:
		return false;
	}
}

int proc__restart_or_end(struct nodeset *ns, struct outcome *o, struct proc_row *p, uint64_t now)
{
	struct nodeent *e = nodeset_find(ns, p->node);
	uint64_t node;

	if (!wants_restart(p))
		goto end;
	if (p->placement == PLACE_ANY) {
		/* Stays where it ran while that node is up; else the least
		 * loaded, or none for now (a node coming up adopts it). */
		node = e != NULL && e->state == NODE_STATE_UP ? p->node : nodeset_least_loaded(ns);
	} else {
		/* Bound to its node: waits there while it is down or
		 * draining; ends with it when it has left. */
		if (e == NULL || e->state == NODE_STATE_LEFT)
			goto end;
		node = p->node;
	}
	p->restarts++;
	return new_attempt(ns, o, p, node);
end:
	p->ended_ms = now;
	return 0;
}

int proc__lose(struct nodeset *ns, struct outcome *o, struct proc_row *p, uint64_t now)
{
	nodeset_add_load(ns, p->node, -1);
	p->state = PROC_STATE_LOST;
	return proc__restart_or_end(ns, o, p, now);
}

int proc__move(struct nodeset *ns, struct outcome *o, struct proc_row *p, bool *moved)
{
	uint64_t node = nodeset_least_loaded(ns);
	int rv;

	*moved = false;
	if (node == 0 || node == p->node)
		return 0;
	/* The old node's reconciler also stops the old attempt once it is not
	 * current; the signal is the hint (DESIGN §2). */
	rv = effects_add(&o->effects, p->node, EFFECT_SIGNAL, p->pid, p->attempt, SIGTERM_NUMBER);
	if (rv != 0)
		return rv;
	nodeset_add_load(ns, p->node, -1);
	*moved = true;
	return new_attempt(ns, o, p, node);
}

/* Reads process `pid`: 0, ERR_NOTFOUND, ERR_CORRUPT or a view error. */
static int proc_get(const struct view *v, uint64_t pid, struct proc_row *p)
{
	uint8_t key[PROC_KEY_LEN];
	const void *val;
	size_t vlen;
	int rv;

	proc_key(key, pid);
	rv = v->get(v, TABLE_PROCS, key, sizeof key, &val, &vlen);
	if (rv != 0)
		return rv;
	return proc_row_decode(val, vlen, p);
}

/*
 * Reads the process a command names: 0 with the row; -1 when the command was
 * rejected (no such process, or `attempt`, when not 0, is not the current
 * one; o says why); or an environmental error.
 */
static int load_proc(const struct view *v, struct outcome *o, uint64_t pid, uint32_t attempt,
		     struct proc_row *p)
{
	int rv = proc_get(v, pid, p);

	if (rv == ERR_NOTFOUND) {
		outcome_reject(o, ERR_NOTFOUND, "no process %llu", (unsigned long long)pid);
		return -1;
	}
	if (rv != 0)
		return rv;
	if (attempt != 0 && attempt != p->attempt) {
		outcome_reject(o, ERR_CONFLICT,
			       "process %llu attempt %u is not current (attempt %u is)",
			       (unsigned long long)pid, attempt, p->attempt);
		return -1;
	}
	return 0;
}

/* Writes `p` and the nodes whose load or state changed. */
static int commit(const struct view *v, struct nodeset *ns, struct outcome *o,
		  const struct proc_row *p)
{
	int rv = proc__put(o, p);

	if (rv == 0)
		rv = nodeset_flush(v, ns, o);
	return rv;
}

static void pack_state(struct outcome *o, const struct proc_row *p)
{
	pack_map(&o->pack, 3);
	pack_cstr(&o->pack, "state");
	pack_cstr(&o->pack, proc_state_name(p->state));
	pack_cstr(&o->pack, "attempt");
	pack_uint(&o->pack, p->attempt);
	pack_cstr(&o->pack, "node");
	pack_uint(&o->pack, p->node);
}

/* Transitions */

struct find_name {
	struct strref name;
	struct node_row row;
	bool found; /* a node by that name that has not left */
	bool left;  /* only a node by that name that has left */
};

static int find_name_row(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct find_name *f = arg;
	struct node_row row;

	(void)key;
	(void)klen;
	if (node_row_decode(val, vlen, &row) != 0)
		return ERR_CORRUPT;
	if (row.name.n != f->name.n || memcmp(row.name.p, f->name.p, row.name.n) != 0)
		return 0;
	if (row.state == NODE_STATE_LEFT) {
		f->left = true;
		return 0;
	}
	f->row = row;
	f->found = true;
	return 1;
}

/* Creates process `pid` from `p` (the submitted fields) on `node`. */
static int submit_one(struct nodeset *ns, struct outcome *o, struct proc_row *p, uint64_t pid,
		      uint64_t node)
{
	int rv;

	p->pid = pid;
	p->attempt = 0;
	rv = new_attempt(ns, o, p, node);
	if (rv == 0)
		rv = proc__put(o, p);
	return rv;
}

static int submit(const struct view *v, const struct cmd *c, struct outcome *o, struct nodeset *ns)
{
	const struct cmd_proc_submit *s = &c->u.submit;
	uint32_t copies = s->count > 1 ? s->count : 1;
	uint64_t node = 0, last, first;
	struct find_name f;
	struct proc_row p;
	uint32_t count = 0, k;
	size_t i, at;
	int rv = 0;

	if (s->restart < RESTART_NO || s->restart > RESTART_ALWAYS)
		return outcome_reject(o, ERR_INVALID, "unknown restart policy %d", s->restart);
	switch (s->placement) {
	case PLACE_NODE:
		memset(&f, 0, sizeof f);
		f.name = s->node;
		rv = v->scan(v, TABLE_NODES, NULL, 0, find_name_row, &f);
		if (rv != 0)
			return rv;
		if (!f.found && f.left)
			return outcome_reject(o, ERR_CONFLICT, "node '%.*s' has left the cluster",
					      (int)s->node.n, s->node.p);
		if (!f.found)
			return outcome_reject(o, ERR_NOTFOUND, "no node '%.*s'", (int)s->node.n,
					      s->node.p);
		if (f.row.state == NODE_STATE_DRAINING)
			return outcome_reject(o, ERR_CONFLICT, "node '%.*s' (%llu) is draining",
					      (int)s->node.n, s->node.p,
					      (unsigned long long)f.row.id);
		/* A down node gets it when it comes back (pending there). */
		node = f.row.id;
		count = copies;
		break;
	case PLACE_ANY:
		count = nodeset_least_loaded(ns) != 0 ? copies : 0;
		break;
	case PLACE_ALL:
		if (copies > 1) /* the decoder rejects it too */
			return outcome_reject(o, ERR_INVALID,
					      "count needs placement on any node or on a node");
		for (i = 0; i < nodeset_count(ns); i++)
			count += nodeset_at(ns, i)->state == NODE_STATE_UP;
		break;
	default:
		return outcome_reject(o, ERR_INVALID, "unknown placement %d", s->placement);
	}
	if (count == 0)
		return outcome_reject(o, ERR_BUSY, "no live node to place process on");

	rv = service_counter(v, "pid", &last);
	if (rv != 0)
		return rv;
	first = last + 1;
	memset(&p, 0, sizeof p);
	p.argv = s->argv;
	p.env = s->env;
	p.cwd = s->cwd;
	p.placement = s->placement;
	p.restart = s->restart;
	p.max_restarts = s->max_restarts;
	p.timeout_ms = s->timeout_ms;
	p.submitted_ms = c->time_ms;

	pack_map(&o->pack, 2);
	pack_cstr(&o->pack, "pids");
	pack_array(&o->pack, count);
	for (k = 0; k < count; k++)
		pack_uint(&o->pack, first + k);
	pack_cstr(&o->pack, "nodes");
	pack_array(&o->pack, count);
	/* Consecutive pids. PLACE_ANY: each copy on the least-loaded up node
	 * as the copies before it left the loads (DESIGN §5), which spreads N
	 * copies evenly, O(nodes) each; PLACE_ALL: in node id order. */
	for (k = 0, at = 0; k < count && rv == 0; k++) {
		if (s->placement == PLACE_ANY) {
			node = nodeset_least_loaded(ns);
		} else if (s->placement == PLACE_ALL) {
			while (nodeset_at(ns, at)->state != NODE_STATE_UP)
				at++;
			node = nodeset_at(ns, at++)->id;
		}
		rv = submit_one(ns, o, &p, ++last, node);
		pack_uint(&o->pack, node);
	}
	if (rv == 0)
		rv = nodeset_flush(v, ns, o);
	if (rv == 0)
		rv = service_counter_put(o, "pid", last);
	return rv;
}

int proc_submit(const struct view *v, const struct cmd *c, struct outcome *o)
{
	struct nodeset ns;
	int rv;

	rv = nodeset_load(v, o, &ns);
	if (rv != 0)
		return rv;
	rv = submit(v, c, o, &ns);
	nodeset_release(&ns);
	return rv;
}

int proc_started(const struct view *v, const struct cmd *c, struct outcome *o)
{
	const struct cmd_proc_started *s = &c->u.started;
	struct proc_row p;
	int rv;

	rv = load_proc(v, o, s->pid, s->attempt, &p);
	if (rv != 0)
		return rv < 0 ? 0 : rv;
	if (c->origin != p.node)
		return outcome_reject(
			o, ERR_CONFLICT,
			"process %llu attempt %u is placed on node %llu, not node %llu",
			(unsigned long long)s->pid, s->attempt, (unsigned long long)p.node,
			(unsigned long long)c->origin);
	if (p.state == PROC_STATE_RUNNING) {
		/* A repeated observation (DESIGN §2): nothing changes. */
		pack_state(o, &p);
		return 0;
	}
	if (p.state != PROC_STATE_PENDING)
		return outcome_reject(
			o, ERR_CONFLICT, "process %llu attempt %u has already ended (%s)",
			(unsigned long long)s->pid, s->attempt, proc_state_name(p.state));
	p.state = PROC_STATE_RUNNING;
	p.os_pid = s->os_pid;
	p.started_ms = c->time_ms;
	pack_state(o, &p);
	return proc__put(o, &p);
}

int proc_output(const struct view *v, const struct cmd *c, struct outcome *o)
{
	const struct cmd_proc_output *s = &c->u.output;
	uint8_t key[OUTPUT_KEY_LEN];
	struct proc_row p;
	const void *val;
	size_t vlen, n;
	int rv;

	if (s->stream != STREAM_STDOUT && s->stream != STREAM_STDERR)
		return outcome_reject(o, ERR_INVALID, "process %llu: unknown stream %d",
				      (unsigned long long)s->pid, s->stream);
	rv = load_proc(v, o, s->pid, 0, &p);
	if (rv != 0)
		return rv < 0 ? 0 : rv;
	/* Output of an earlier attempt, or arriving after the end, is still
	 * what the program wrote: kept. A future attempt cannot have any. */
	if (s->attempt == 0 || s->attempt > p.attempt)
		return outcome_reject(o, ERR_CONFLICT, "process %llu has no attempt %u",
				      (unsigned long long)s->pid, s->attempt);
	output_key(key, s->pid, s->attempt, s->stream, s->seq);
	rv = v->get(v, TABLE_OUTPUT, key, sizeof key, &val, &vlen);
	if (rv == 0) {
		n = 0; /* a duplicate chunk: nothing changes */
		goto result;
	}
	if (rv != ERR_NOTFOUND)
		return rv;
	n = s->data.n;
	if (p.output_bytes >= PROC_OUTPUT_CAP)
		n = 0;
	else if (n > PROC_OUTPUT_CAP - p.output_bytes)
		n = (size_t)(PROC_OUTPUT_CAP - p.output_bytes);
	if (n == 0 && (p.output_truncated || s->data.n == 0))
		goto result; /* over the cap, and already reported so */
	if (n < s->data.n)
		p.output_truncated = true; /* the cap is reported, never silent (DESIGN §5) */
	p.output_bytes += n;
	rv = 0;
	if (n > 0)
		rv = delta_put(&o->delta, TABLE_OUTPUT, key, sizeof key, s->data.p, n);
	if (rv == 0)
		rv = proc__put(o, &p);
	if (rv != 0)
		return rv;
result:
	pack_map(&o->pack, 2);
	pack_cstr(&o->pack, "stored");
	pack_uint(&o->pack, n);
	pack_cstr(&o->pack, "truncated");
	pack_bool(&o->pack, p.output_truncated);
	return 0;
}

int proc_exited(const struct view *v, const struct cmd *c, struct outcome *o)
{
	const struct cmd_proc_exited *s = &c->u.exited;
	struct nodeset ns;
	struct proc_row p;
	int rv;

	rv = load_proc(v, o, s->pid, s->attempt, &p);
	if (rv != 0)
		return rv < 0 ? 0 : rv;
	if (proc_is_ended(p.state)) {
		/* A repeated observation of the same end: nothing changes. */
		pack_state(o, &p);
		return 0;
	}
	rv = nodeset_load(v, o, &ns);
	if (rv != 0)
		return rv;
	nodeset_add_load(&ns, p.node, -1);
	p.exit_code = s->exit_code;
	p.signal = s->signal;
	if (p.kill_signal != 0)
		p.state = PROC_STATE_KILLED;
	else if (s->exit_code == 0 && s->signal == 0)
		p.state = PROC_STATE_EXITED;
	else
		p.state = PROC_STATE_FAILED;
	rv = proc__restart_or_end(&ns, o, &p, c->time_ms);
	if (rv == 0)
		rv = commit(v, &ns, o, &p);
	nodeset_release(&ns);
	pack_state(o, &p);
	return rv;
}

int proc_kill(const struct view *v, const struct cmd *c, struct outcome *o)
{
	const struct cmd_proc_kill *s = &c->u.kill;
	struct nodeset ns;
	struct proc_row p;
	int rv;

	rv = load_proc(v, o, s->pid, 0, &p);
	if (rv != 0)
		return rv < 0 ? 0 : rv;
	if (s->signal < 1 || s->signal > 64)
		return outcome_reject(o, ERR_INVALID, "process %llu: invalid signal %d",
				      (unsigned long long)s->pid, (int)s->signal);
	if (proc_is_ended(p.state))
		return outcome_reject(o, ERR_CONFLICT, "process %llu has already exited (%s)",
				      (unsigned long long)s->pid, proc_state_name(p.state));
	p.kill_signal = s->signal; /* also cancels any restart */
	if (p.state == PROC_STATE_RUNNING) {
		/* It is killed when its exit is observed. */
		rv = effects_add(&o->effects, p.node, EFFECT_SIGNAL, p.pid, p.attempt, s->signal);
		if (rv == 0)
			rv = proc__put(o, &p);
		pack_state(o, &p);
		return rv;
	}
	/* Pending: never started, so it ends now. */
	rv = nodeset_load(v, o, &ns);
	if (rv != 0)
		return rv;
	nodeset_add_load(&ns, p.node, -1);
	p.state = PROC_STATE_KILLED;
	p.ended_ms = c->time_ms;
	rv = commit(v, &ns, o, &p);
	nodeset_release(&ns);
	pack_state(o, &p);
	return rv;
}

int proc_lost(const struct view *v, const struct cmd *c, struct outcome *o)
{
	const struct cmd_proc_lost *s = &c->u.lost;
	struct nodeset ns;
	struct proc_row p;
	int rv;

	rv = load_proc(v, o, s->pid, s->attempt, &p);
	if (rv != 0)
		return rv < 0 ? 0 : rv;
	if (proc_is_ended(p.state)) {
		pack_state(o, &p);
		return 0;
	}
	rv = nodeset_load(v, o, &ns);
	if (rv != 0)
		return rv;
	rv = proc__lose(&ns, o, &p, c->time_ms);
	if (rv == 0)
		rv = commit(v, &ns, o, &p);
	nodeset_release(&ns);
	pack_state(o, &p);
	return rv;
}
