/*
 * The nodes service of services/nodes.h: the transitions node_join,
 * node_remove, node_drain, node_down, node_up and node_role of
 * services/internal.h, and the node row. Pure transitions (STYLE "Services
 * stay pure"); what happens to the processes of a node that goes away follows
 * the rules of services/proc_internal.h (DESIGN §5).
 */
#include "config.h"

#include <string.h>

#include "common/error.h"
#include "common/pack.h"
#include "services/internal.h"
#include "services/proc_internal.h"

/* Voters the cluster wants before new nodes join as standbys (DESIGN §5). */

/* Rows */

void node_key(uint8_t out[NODE_KEY_LEN], uint64_t id)
{
	be64_put(out, id);
}

static void pack_strref(struct packer *pk, struct strref s)
{
	pack_str(pk, s.p != NULL ? s.p : "", s.n);
}

int node_row_encode(const struct node_row *r, struct buf *out)
{
	struct packer pk;

	packer_init(&pk, out);
	pack_array(&pk, NODE_ROW_FIELDS);
	pack_uint(&pk, r->id);
	pack_strref(&pk, r->name);
	pack_strref(&pk, r->raft_addr);
	pack_strref(&pk, r->http_addr);
	pack_uint(&pk, (uint64_t)r->role);
	pack_uint(&pk, (uint64_t)r->state);
	pack_uint(&pk, r->joined_ms);
	return pack_uint(&pk, r->load);
}

static int rd_uint(struct unpacker *u, uint64_t max, uint64_t *v)
{
	if (unpack_uint(u, v) != 0 || *v > max)
		return ERR_CORRUPT;
	return 0;
}

static int rd_str(struct unpacker *u, struct strref *s)
{
	return unpack_str(u, &s->p, &s->n) != 0 ? ERR_CORRUPT : 0;
}

int node_row_decode(const void *val, size_t len, struct node_row *r)
{
	struct unpacker u;
	uint64_t role, state, load;
	uint32_t n, i;

	memset(r, 0, sizeof *r);
	unpacker_init(&u, val, len);
	if (unpack_array(&u, &n) != 0 || n < NODE_ROW_FIELDS ||
	    rd_uint(&u, UINT64_MAX, &r->id) != 0 || rd_str(&u, &r->name) != 0 ||
	    rd_str(&u, &r->raft_addr) != 0 || rd_str(&u, &r->http_addr) != 0 ||
	    rd_uint(&u, ROLE_SPARE, &role) != 0 || rd_uint(&u, NODE_STATE_COUNT - 1, &state) != 0 ||
	    rd_uint(&u, UINT64_MAX, &r->joined_ms) != 0 || rd_uint(&u, UINT32_MAX, &load) != 0)
		goto corrupt;
	/* Fields a later version appended; nothing may follow the array. */
	for (i = NODE_ROW_FIELDS; i < n; i++)
		if (unpack_skip(&u) != 0)
			goto corrupt;
	if (unpack_left(&u) != 0)
		goto corrupt;
	r->role = (int)role;
	r->state = (int)state;
	r->load = (uint32_t)load;
	return 0;
corrupt:
	memset(r, 0, sizeof *r);
	return ERR_CORRUPT;
}

const char *node_state_name(int state)
{
	static const char *const names[NODE_STATE_COUNT] = {
		[NODE_STATE_UP] = "up",
		[NODE_STATE_DOWN] = "down",
		[NODE_STATE_DRAINING] = "draining",
		[NODE_STATE_LEFT] = "left",
	};

	if (state < 0 || state >= NODE_STATE_COUNT)
		return "unknown";
	return names[state];
}

const char *node_role_name(int role)
{
	switch (role) {
	case ROLE_VOTER:
		return "voter";
	case ROLE_STANDBY:
		return "standby";
	case ROLE_SPARE:
		return "spare";
	default:
		return "unknown";
	}
}

/* Walking a node's processes */

enum walk_action {
	WALK_LOSE,  /* pending/running here → lost, restart policy (down, remove) */
	WALK_MOVE,  /* restartable PLACE_ANY pending/running here → elsewhere (drain) */
	WALK_ADOPT, /* pending with no node → here; pending here → start hint (up, join) */
};

struct walk {
	const struct view *v;
	struct outcome *o;
	struct nodeset *ns; /* NULL for WALK_ADOPT at join */
	uint64_t node;
	uint64_t now;
	int action;
	uint32_t done; /* lost, moved or adopted */
	uint32_t kept; /* WALK_MOVE: left in place */
};

static int walk_row(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct walk *w = arg;
	struct proc_row p;
	bool moved;
	int rv;

	(void)key;
	(void)klen;
	if (proc_row_decode(val, vlen, &p) != 0)
		return ERR_CORRUPT;
	if (w->action == WALK_ADOPT) {
		if (p.state != PROC_STATE_PENDING || (p.node != 0 && p.node != w->node))
			return 0;
		/* The start is only a hint for the pending ones already here. */
		rv = effects_add(&w->o->effects, w->node, EFFECT_START, p.pid, p.attempt, 0);
		if (rv != 0 || p.node == w->node)
			return rv;
		/* Placed nowhere because no node was up (proc__restart_or_end):
		 * this node is now the only one that is. */
		p.node = w->node;
		w->done++;
		return proc__put(w->o, &p);
	}
	if (p.node != w->node || (p.state != PROC_STATE_PENDING && p.state != PROC_STATE_RUNNING))
		return 0;
	if (w->action == WALK_LOSE) {
		rv = proc__lose(w->ns, w->o, &p, w->now);
		w->done++;
		return rv != 0 ? rv : proc__put(w->o, &p);
	}
	if (p.restart == RESTART_NO || p.placement != PLACE_ANY || p.kill_signal != 0) {
		w->kept++;
		return 0;
	}
	rv = proc__move(w->ns, w->o, &p, &moved);
	if (rv != 0)
		return rv;
	if (!moved) {
		w->kept++; /* no other node is up: it stays for now */
		return 0;
	}
	w->done++;
	return proc__put(w->o, &p);
}

static int walk(struct walk *w)
{
	return w->v->scan(w->v, TABLE_PROCS, NULL, 0, walk_row, w);
}

/* Transitions */

struct join_scan {
	struct strref name;
	uint32_t voters;
	uint64_t clash; /* a node by that name that has not left, or 0 */
};

static int join_row(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct join_scan *j = arg;
	struct node_row row;

	(void)key;
	(void)klen;
	if (node_row_decode(val, vlen, &row) != 0)
		return ERR_CORRUPT;
	if (row.state == NODE_STATE_LEFT)
		return 0;
	if (row.role == ROLE_VOTER)
		j->voters++;
	if (row.name.n == j->name.n && memcmp(row.name.p, j->name.p, row.name.n) == 0)
		j->clash = row.id;
	return 0;
}

int node_join(const struct view *v, const struct cmd *c, struct outcome *o)
{
	const struct cmd_node_join *s = &c->u.join;
	uint8_t key[NODE_KEY_LEN];
	struct join_scan j;
	struct node_row row;
	struct walk w;
	struct buf *b = &o->scratch;
	const void *val;
	size_t vlen;
	uint64_t last, id;
	int rv;

	if (s->name.n == 0)
		return outcome_reject(o, ERR_INVALID, "a node needs a name");
	memset(&j, 0, sizeof j);
	j.name = s->name;
	rv = v->scan(v, TABLE_NODES, NULL, 0, join_row, &j);
	if (rv != 0)
		return rv;
	if (j.clash != 0)
		return outcome_reject(o, ERR_EXISTS, "node '%.*s' already exists (node %llu)",
				      (int)s->name.n, s->name.p, (unsigned long long)j.clash);
	rv = service_counter(v, "node", &last);
	if (rv != 0)
		return rv;
	id = s->id != 0 ? s->id : last + 1;
	if (s->id != 0) {
		/* Ids are never reused, not even those of nodes that left. */
		node_key(key, id);
		rv = v->get(v, TABLE_NODES, key, sizeof key, &val, &vlen);
		if (rv == 0)
			return outcome_reject(o, ERR_EXISTS, "node %llu already exists",
					      (unsigned long long)id);
		if (rv != ERR_NOTFOUND)
			return rv;
	}

	memset(&w, 0, sizeof w);
	w.v = v;
	w.o = o;
	w.node = id;
	w.now = c->time_ms;
	w.action = WALK_ADOPT;
	rv = walk(&w);
	if (rv != 0)
		return rv;

	memset(&row, 0, sizeof row);
	row.id = id;
	row.name = s->name;
	row.raft_addr = s->raft_addr;
	row.http_addr = s->http_addr;
	/* The first node bootstraps raft as its only voter. Any other joins
	 * raft as a standby, and the leader records its promotion with
	 * node.role: the table says what raft's configuration says. */
	row.role = j.voters == 0 ? ROLE_VOTER : ROLE_STANDBY;
	row.state = NODE_STATE_UP;
	row.joined_ms = c->time_ms;
	row.load = w.done;
	node_key(key, id);
	b->len = 0;
	rv = node_row_encode(&row, b);
	if (rv == 0)
		rv = delta_put(&o->delta, TABLE_NODES, key, sizeof key, b->data, b->len);
	if (rv == 0 && id > last)
		rv = service_counter_put(o, "node", id);
	pack_map(&o->pack, 2);
	pack_cstr(&o->pack, "id");
	pack_uint(&o->pack, id);
	pack_cstr(&o->pack, "role");
	pack_cstr(&o->pack, node_role_name(row.role));
	return rv;
}

/* Loads the nodes and finds node `id`; *e == NULL means rejected (o set). */
static int load(const struct view *v, const struct cmd *c, struct outcome *o, struct nodeset *ns,
		struct nodeent **e)
{
	int rv = nodeset_load(v, o, ns);

	*e = NULL;
	if (rv != 0)
		return rv;
	*e = nodeset_find(ns, c->u.node.node);
	if (*e == NULL) {
		nodeset_release(ns);
		return outcome_reject(o, ERR_NOTFOUND, "no node %llu",
				      (unsigned long long)c->u.node.node);
	}
	return 0;
}

static void pack_result(struct outcome *o, const struct nodeent *e, const char *what, uint32_t n)
{
	pack_map(&o->pack, what != NULL ? 2 : 1);
	pack_cstr(&o->pack, "state");
	pack_cstr(&o->pack, node_state_name(e->state));
	if (what != NULL) {
		pack_cstr(&o->pack, what);
		pack_uint(&o->pack, n);
	}
}

/* Down and remove: the node's processes are lost, then restarted or ended
 * by their policy (DESIGN §5). */
static int lose_all(const struct view *v, const struct cmd *c, struct outcome *o, int state)
{
	struct nodeset ns;
	struct nodeent *e;
	struct walk w;
	int rv;

	rv = load(v, c, o, &ns, &e);
	if (rv != 0 || e == NULL)
		return rv;
	if (e->state == NODE_STATE_LEFT && state != NODE_STATE_LEFT) {
		nodeset_release(&ns);
		return outcome_reject(o, ERR_CONFLICT, "node %llu has left the cluster",
				      (unsigned long long)c->u.node.node);
	}
	memset(&w, 0, sizeof w);
	if (e->state != state) {
		nodeset_set_state(&ns, e, state);
		w.v = v;
		w.o = o;
		w.ns = &ns;
		w.node = e->id;
		w.now = c->time_ms;
		w.action = WALK_LOSE;
		rv = walk(&w);
		if (rv == 0)
			rv = nodeset_flush(v, &ns, o);
	}
	pack_result(o, e, "lost", w.done);
	nodeset_release(&ns);
	return rv;
}

int node_remove(const struct view *v, const struct cmd *c, struct outcome *o)
{
	return lose_all(v, c, o, NODE_STATE_LEFT);
}

int node_down(const struct view *v, const struct cmd *c, struct outcome *o)
{
	return lose_all(v, c, o, NODE_STATE_DOWN);
}

int node_drain(const struct view *v, const struct cmd *c, struct outcome *o)
{
	struct nodeset ns;
	struct nodeent *e;
	struct walk w;
	int rv;

	rv = load(v, c, o, &ns, &e);
	if (rv != 0 || e == NULL)
		return rv;
	if (e->state == NODE_STATE_LEFT) {
		nodeset_release(&ns);
		return outcome_reject(o, ERR_CONFLICT, "node %llu has left the cluster",
				      (unsigned long long)c->u.node.node);
	}
	/* Draining again retries the moves that found no other node. */
	nodeset_set_state(&ns, e, NODE_STATE_DRAINING);
	memset(&w, 0, sizeof w);
	w.v = v;
	w.o = o;
	w.ns = &ns;
	w.node = e->id;
	w.now = c->time_ms;
	w.action = WALK_MOVE;
	rv = walk(&w);
	if (rv == 0)
		rv = nodeset_flush(v, &ns, o);
	pack_map(&o->pack, 3);
	pack_cstr(&o->pack, "state");
	pack_cstr(&o->pack, node_state_name(e->state));
	pack_cstr(&o->pack, "moved");
	pack_uint(&o->pack, w.done);
	pack_cstr(&o->pack, "kept");
	pack_uint(&o->pack, w.kept);
	nodeset_release(&ns);
	return rv;
}

int node_up(const struct view *v, const struct cmd *c, struct outcome *o)
{
	struct nodeset ns;
	struct nodeent *e;
	struct walk w;
	int rv;

	rv = load(v, c, o, &ns, &e);
	if (rv != 0 || e == NULL)
		return rv;
	memset(&w, 0, sizeof w);
	/* Only a down node comes up: draining and left nodes stay so. */
	if (e->state == NODE_STATE_DOWN) {
		nodeset_set_state(&ns, e, NODE_STATE_UP);
		w.v = v;
		w.o = o;
		w.node = e->id;
		w.now = c->time_ms;
		w.action = WALK_ADOPT;
		rv = walk(&w);
		for (uint32_t i = 0; i < w.done; i++)
			nodeset_add_load(&ns, e->id, +1);
		if (rv == 0)
			rv = nodeset_flush(v, &ns, o);
	}
	pack_result(o, e, "adopted", w.done);
	nodeset_release(&ns);
	return rv;
}

int node_role(const struct view *v, const struct cmd *c, struct outcome *o)
{
	const struct cmd_node_role *s = &c->u.role;
	uint8_t key[NODE_KEY_LEN];
	struct node_row row;
	struct buf *b = &o->scratch;
	const void *val;
	size_t vlen;
	int rv;

	if (s->role < ROLE_VOTER || s->role > ROLE_SPARE)
		return outcome_reject(o, ERR_INVALID, "node %llu: unknown role %d",
				      (unsigned long long)s->node, s->role);
	node_key(key, s->node);
	rv = v->get(v, TABLE_NODES, key, sizeof key, &val, &vlen);
	if (rv == ERR_NOTFOUND)
		return outcome_reject(o, ERR_NOTFOUND, "no node %llu", (unsigned long long)s->node);
	if (rv != 0)
		return rv;
	if (node_row_decode(val, vlen, &row) != 0)
		return ERR_CORRUPT;
	if (row.state == NODE_STATE_LEFT)
		return outcome_reject(o, ERR_CONFLICT, "node %llu has left the cluster",
				      (unsigned long long)s->node);
	pack_map(&o->pack, 1);
	pack_cstr(&o->pack, "role");
	pack_cstr(&o->pack, node_role_name(s->role));
	if (row.role == s->role)
		return 0;
	row.role = s->role;
	b->len = 0;
	rv = node_row_encode(&row, b);
	if (rv == 0)
		rv = delta_put(&o->delta, TABLE_NODES, key, sizeof key, b->data, b->len);
	return rv;
}
