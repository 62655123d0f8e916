/*
 * Failure detection and roles (DESIGN §5 nodes). Every agent heartbeats to
 * the leader; the leader commits a node as down when it has been silent for
 * longer than --down-after, and as up again when it is heard from. The leader
 * also registers itself when it bootstrapped the cluster, and keeps enough
 * voters: when fewer than three (five with five or more healthy nodes) voters
 * are up, a healthy standby is promoted.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/client.h"
#include "agent/internal.h"
#include "common/error.h"
#include "services/nodes.h"

#define HEARTBEAT_TIMEOUT_MS 1000

static struct seen *seen_find(struct agent *a, uint64_t id, bool create)
{
	struct buf *b = &impl(a)->seen;
	struct seen *s = (struct seen *)(void *)b->data, rec;
	size_t i, n = b->len / sizeof rec;

	for (i = 0; i < n; i++)
		if (s[i].id == id)
			return &s[i];
	if (!create)
		return NULL;
	memset(&rec, 0, sizeof rec);
	rec.id = id;
	rec.last = uv_now(&a->loop);
	if (buf_append(b, &rec, sizeof rec) != 0)
		return NULL;
	return (struct seen *)(void *)b->data + n;
}

void agent_heartbeat(struct agent *a, uint64_t id)
{
	struct seen *s = seen_find(a, id, true);

	if (s != NULL)
		s->last = uv_now(&a->loop);
}

struct node_cmd {
	struct agent *a;
	uint64_t id;
};

static void on_node_cmd(void *arg, const struct agent_result *r)
{
	struct node_cmd *nc = arg;
	struct seen *s = seen_find(nc->a, nc->id, false);

	if (s != NULL)
		s->inflight = false;
	if (r->status == 0 && r->code == 0)
		logger_info(&nc->a->lg, "node=%llu state committed at index=%llu",
			    (unsigned long long)nc->id, (unsigned long long)r->index);
	free(nc);
}

static void submit_node(struct agent *a, struct seen *s, uint32_t type)
{
	struct node_cmd *nc = malloc(sizeof *nc);
	struct cmd c;

	if (nc == NULL)
		return;
	nc->a = a;
	nc->id = s->id;
	memset(&c, 0, sizeof c);
	c.type = type;
	c.u.node.node = s->id;
	s->inflight = true;
	logger_warn(&a->lg, "node=%llu %s", (unsigned long long)s->id,
		    type == CMD_NODE_DOWN ? "silent: marking down" : "heard from: marking up");
	if (agent_submit_leader(a, &c, on_node_cmd, nc) != 0) {
		s->inflight = false;
		free(nc);
	}
}

static void on_self_registered(void *arg, const struct agent_result *r)
{
	struct agent *a = arg;

	impl(a)->self_registering = false;
	if (r->status == 0 && r->code == 0)
		logger_info(&a->lg, "registered node=%llu name=%s index=%llu",
			    (unsigned long long)a->id, a->cfg.name, (unsigned long long)r->index);
}

static void register_self(struct agent *a)
{
	struct cmd c;

	memset(&c, 0, sizeof c);
	c.type = CMD_NODE_JOIN;
	c.u.join.id = a->id;
	c.u.join.name.p = a->cfg.name;
	c.u.join.name.n = strlen(a->cfg.name);
	c.u.join.raft_addr.p = a->cfg.raft_addr;
	c.u.join.raft_addr.n = strlen(a->cfg.raft_addr);
	c.u.join.http_addr.p = a->cfg.http_addr;
	c.u.join.http_addr.n = strlen(a->cfg.http_addr);
	impl(a)->self_registering = true;
	if (agent_submit(a, &c, on_self_registered, a) != 0)
		impl(a)->self_registering = false;
}

struct roles {
	struct agent *a;
	struct store_txn *t;
	int voters_up;
	int voters;
	int healthy;
	uint64_t candidate;  /* a healthy non-voter */
	uint64_t lost_voter; /* a voter that is down */
};

static bool node_healthy(struct store_txn *t, uint64_t id)
{
	uint8_t key[NODE_KEY_LEN];
	struct node_row row;
	const void *v;
	size_t vl;

	node_key(key, id);
	return store_get(t, STORE_NODES, key, sizeof key, STORE_AT_LATEST, &v, &vl) == 0 &&
	       node_row_decode(v, vl, &row) == 0 &&
	       (row.state == NODE_STATE_UP || row.state == NODE_STATE_DRAINING);
}

static void role_of(void *arg, uint64_t id, const char *addr, int role)
{
	struct roles *r = arg;

	if (role == CONSENSUS_VOTER)
		r->voters++;
	if (id == r->a->id) {
		/* The leader is up by definition, whatever its row says. */
		r->healthy++;
		if (role == CONSENSUS_VOTER)
			r->voters_up++;
		return;
	}
	if (!node_healthy(r->t, id)) {
		if (role == CONSENSUS_VOTER && r->lost_voter == 0)
			r->lost_voter = id;
		return;
	}
	r->healthy++;
	if (role == CONSENSUS_VOTER)
		r->voters_up++;
	else if (r->candidate == 0 || id < r->candidate)
		r->candidate = id;
}

struct role_change {
	struct agent *a;
	uint64_t id;
	int role; /* CONSENSUS_* */
};

static void on_role_recorded(void *arg, const struct agent_result *r)
{
	free(arg);
}

static void on_role_changed(void *arg, int status)
{
	struct role_change *rc = arg;
	struct agent *a = rc->a;
	struct cmd c;

	impl(a)->role_changing = false;
	logger_info(&a->lg, "role node=%llu to=%s status=%d", (unsigned long long)rc->id,
		    rc->role == CONSENSUS_VOTER ? "voter" : "standby", status);
	if (status == 0) {
		memset(&c, 0, sizeof c);
		c.type = CMD_NODE_ROLE;
		c.u.role.node = rc->id;
		c.u.role.role = rc->role == CONSENSUS_VOTER ? ROLE_VOTER : ROLE_STANDBY;
		if (agent_submit(a, &c, on_role_recorded, rc) == 0)
			return;
	}
	free(rc);
}

static void manage_roles(struct agent *a, struct store_txn *t)
{
	struct roles r;
	struct role_change *rc;
	int target;

	if (impl(a)->role_changing)
		return;
	memset(&r, 0, sizeof r);
	r.a = a;
	r.t = t;
	consensus_servers(&a->consensus, role_of, &r);
	target = r.healthy >= 5 ? 5 : 3;
	rc = malloc(sizeof *rc);
	if (rc == NULL)
		return;
	rc->a = a;
	if (r.voters_up < target && r.candidate != 0) {
		/* A healthy standby replaces a lost voter (or fills up). */
		rc->id = r.candidate;
		rc->role = CONSENSUS_VOTER;
	} else if (r.voters > target && r.lost_voter != 0) {
		/* Once replaced, a voter that is down leaves the quorum, so that
		 * it takes a majority of the voters that are up. */
		rc->id = r.lost_voter;
		rc->role = CONSENSUS_STANDBY;
	} else {
		free(rc);
		return;
	}
	impl(a)->role_changing = true;
	if (consensus_assign(&a->consensus, rc->id, rc->role, on_role_changed, rc) != 0) {
		impl(a)->role_changing = false;
		free(rc);
	}
}

static void on_removed(void *arg, int status)
{
	struct role_change *rc = arg;

	impl(rc->a)->role_changing = false;
	logger_info(&rc->a->lg, "removed node=%llu from raft status=%d", (unsigned long long)rc->id,
		    status);
	free(rc);
}

/* A node that left the cluster leaves raft's configuration too. */
static void remove_from_raft(struct agent *a, uint64_t id)
{
	struct role_change *rc;

	if (impl(a)->role_changing || consensus_role(&a->consensus, id) < 0)
		return;
	rc = malloc(sizeof *rc);
	if (rc == NULL)
		return;
	rc->a = a;
	rc->id = id;
	impl(a)->role_changing = true;
	if (consensus_remove(&a->consensus, id, on_removed, rc) != 0) {
		impl(a)->role_changing = false;
		free(rc);
	}
}

static void on_self_up(void *arg, const struct agent_result *r)
{
	struct agent *a = arg;

	impl(a)->self_up_inflight = false;
}

static void mark_self_up(struct agent *a)
{
	struct cmd c;

	memset(&c, 0, sizeof c);
	c.type = CMD_NODE_UP;
	c.u.node.node = a->id;
	impl(a)->self_up_inflight = true;
	if (agent_submit_leader(a, &c, on_self_up, a) != 0)
		impl(a)->self_up_inflight = false;
}

static void leader_tick(struct agent *a)
{
	struct agent_impl *m = impl(a);
	struct store_txn t;
	struct store_iter it;
	struct node_row row;
	const void *k, *v;
	size_t kl, vl;
	bool self_found = false;
	uint64_t now = uv_now(&a->loop);

	if (!m->was_leader || now - m->last_tick > 4 * AGENT_TICK_MS) {
		/* A new leader, or one whose loop did not run for a while (it was
		 * stopped, or starved): it heard nobody meanwhile, which says
		 * nothing about them. Everyone gets a fresh grace period. */
		m->seen.len = 0;
		m->was_leader = true;
	}
	m->last_tick = now;
	if (store_read(&a->store, &t) != 0)
		return;
	if (store_iter_init(&it, &t, STORE_NODES, NULL, 0, STORE_AT_LATEST) == 0) {
		while (store_iter_next(&it, &k, &kl, &v, &vl) == 0) {
			struct seen *s;
			if (node_row_decode(v, vl, &row) != 0)
				continue;
			if (row.id == a->id) {
				self_found = true;
				/* Marked down by an earlier leader while this node was
				 * unreachable: it leads now, so it is up. */
				if (row.state == NODE_STATE_DOWN && !m->self_up_inflight)
					mark_self_up(a);
				continue;
			}
			if (row.state == NODE_STATE_LEFT) {
				remove_from_raft(a, row.id);
				continue;
			}
			s = seen_find(a, row.id, true);
			if (s == NULL || s->inflight)
				continue;
			if (row.state != NODE_STATE_DOWN && now - s->last > a->cfg.down_after_ms)
				submit_node(a, s, CMD_NODE_DOWN);
			else if (row.state == NODE_STATE_DOWN &&
				 now - s->last < a->cfg.down_after_ms)
				submit_node(a, s, CMD_NODE_UP);
		}
		store_iter_close(&it);
	}
	if (!self_found && !m->self_registering)
		register_self(a);
	manage_roles(a, &t);
	store_read_end(&t);
}

static void on_heartbeat_sent(void *arg, int status, int http_status, const void *body, size_t len)
{
}

static void follower_tick(struct agent *a)
{
	char headers[AGENT_SECRET_HEADER_LEN], path[64];
	const char *leader = submit__leader_http(a);

	impl(a)->was_leader = false;
	if (leader == NULL)
		return;
	agent__secret_header(a, headers);
	snprintf(path, sizeof path, "/v1/internal/heartbeat?id=%llu", (unsigned long long)a->id);
	client_request(&a->loop, leader, "POST", path, headers, NULL, 0, HEARTBEAT_TIMEOUT_MS,
		       on_heartbeat_sent, NULL);
}

void detector__tick(struct agent *a)
{
	/* Runs every AGENT_TICK_MS: a heartbeat per tick is cheap on the
	 * leader (one map update) and keeps detection quick. */
	if (consensus_is_leader(&a->consensus))
		leader_tick(a);
	else
		follower_tick(a);
}
