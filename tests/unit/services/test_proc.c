/*
 * Tests of the process service (services/proc.h): placement (least loaded,
 * ties to the lowest id; a named node; every node), started, output with its
 * per-process cap, exited with the restart policies, kill and lost; the rows
 * decode strictly. Each case gives initial rows and one command and checks
 * the exact delta, effects and result (proc_fixture.h, implemented here).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "common/error.h"
#include "common/pack.h"
#include "services/nodes.h"
#include "services/proc.h"
#include "services/service.h"
#include "tests/unit/services/memview.h"
#include "tests/unit/services/proc_fixture.h"
#include "tests/unit/services/suites.h"

#define T FX_TIME

/* The harness */

static const char *const fx_argv[] = {"/bin/true", NULL};

static void argv_ref(struct buf *b, struct rawref *r)
{
	memview_pack_strs(b, r, fx_argv);
}

void fx_set_node(struct memview *m, const struct nspec *n)
{
	struct node_row r;
	uint8_t key[NODE_KEY_LEN];
	struct buf b;

	memset(&r, 0, sizeof r);
	r.id = n->id;
	r.name = memview_str(n->name);
	r.raft_addr = memview_str("127.0.0.1:7701");
	r.http_addr = memview_str("127.0.0.1:7700");
	r.role = n->role;
	r.state = n->state;
	r.joined_ms = 1000;
	r.load = n->load;
	buf_init(&b);
	ck_assert_int_eq(node_row_encode(&r, &b), 0);
	node_key(key, n->id);
	memview_set(m, TABLE_NODES, key, sizeof key, b.data, b.len);
	buf_release(&b);
}

void fx_set_proc(struct memview *m, const struct pspec *p)
{
	struct proc_row r;
	uint8_t key[PROC_KEY_LEN];
	struct buf b, a;

	buf_init(&a);
	memset(&r, 0, sizeof r);
	argv_ref(&a, &r.argv);
	r.pid = p->pid;
	r.placement = p->placement;
	r.node = p->node;
	r.restart = p->restart;
	r.max_restarts = p->max_restarts;
	r.restarts = p->restarts;
	r.state = p->state;
	r.attempt = p->attempt;
	r.exit_code = p->exit_code;
	r.signal = p->signal;
	r.os_pid = p->os_pid;
	r.submitted_ms = p->submitted_ms;
	r.started_ms = p->started_ms;
	r.ended_ms = p->ended_ms;
	r.output_bytes = p->output_bytes;
	r.output_truncated = p->truncated;
	r.kill_signal = p->kill_signal;
	buf_init(&b);
	ck_assert_int_eq(proc_row_encode(&r, &b), 0);
	proc_key(key, p->pid);
	memview_set(m, TABLE_PROCS, key, sizeof key, b.data, b.len);
	buf_release(&b);
	buf_release(&a);
}

void fx_setup(struct memview *m, const struct fx_case *t)
{
	uint8_t v[8];
	size_t i;

	for (i = 0; i < FX_MAX && t->nodes[i].id != 0; i++)
		fx_set_node(m, &t->nodes[i]);
	for (i = 0; i < FX_MAX && t->procs[i].pid != 0; i++)
		fx_set_proc(m, &t->procs[i]);
	if (t->pid_counter != 0) {
		be64_put(v, t->pid_counter);
		memview_set(m, TABLE_COUNTERS, "pid", 3, v, 8);
	}
	if (t->node_counter != 0) {
		be64_put(v, t->node_counter);
		memview_set(m, TABLE_COUNTERS, "node", 4, v, 8);
	}
}

static void check_proc(const char *name, size_t i, const struct delta_op *op, const struct pspec *x)
{
	uint8_t key[PROC_KEY_LEN];
	struct proc_row r;
	struct buf a;
	struct rawref argv;

	proc_key(key, x->pid);
	ck_assert_msg(op->klen == sizeof key && memcmp(op->key, key, sizeof key) == 0,
		      "%s: op %zu: not the key of process %llu", name, i,
		      (unsigned long long)x->pid);
	ck_assert_msg(proc_row_decode(op->val, op->vlen, &r) == 0, "%s: op %zu: bad row", name, i);
	buf_init(&a);
	argv_ref(&a, &argv);
	ck_assert_msg(r.argv.n == argv.n && memcmp(r.argv.p, argv.p, argv.n) == 0,
		      "%s: op %zu: argv", name, i);
	buf_release(&a);
#define FIELD(f, g)                                                          \
	ck_assert_msg((uint64_t)r.f == (uint64_t)x->g,                       \
		      "%s: op %zu: pid %llu " #f " %lld, not %lld", name, i, \
		      (unsigned long long)x->pid, (long long)r.f, (long long)x->g)
	FIELD(pid, pid);
	FIELD(placement, placement);
	FIELD(node, node);
	FIELD(restart, restart);
	FIELD(max_restarts, max_restarts);
	FIELD(restarts, restarts);
	FIELD(state, state);
	FIELD(attempt, attempt);
	FIELD(exit_code, exit_code);
	FIELD(signal, signal);
	FIELD(os_pid, os_pid);
	FIELD(submitted_ms, submitted_ms);
	FIELD(started_ms, started_ms);
	FIELD(ended_ms, ended_ms);
	FIELD(output_bytes, output_bytes);
	FIELD(output_truncated, truncated);
	FIELD(kill_signal, kill_signal);
#undef FIELD
}

static void check_node(const char *name, size_t i, const struct delta_op *op, const struct nspec *x)
{
	uint8_t key[NODE_KEY_LEN];
	struct node_row r;

	node_key(key, x->id);
	ck_assert_msg(op->klen == sizeof key && memcmp(op->key, key, sizeof key) == 0,
		      "%s: op %zu: not the key of node %llu", name, i, (unsigned long long)x->id);
	ck_assert_msg(node_row_decode(op->val, op->vlen, &r) == 0, "%s: op %zu: bad row", name, i);
	ck_assert_msg(
		r.id == x->id && r.state == x->state && r.role == x->role && r.load == x->load,
		"%s: op %zu: node %llu is (state %d, role %d, load %u), not (%d, %d, %u)", name, i,
		(unsigned long long)x->id, r.state, r.role, r.load, x->state, x->role, x->load);
	ck_assert_msg(x->name == NULL || (r.name.n == strlen(x->name) &&
					  memcmp(r.name.p, x->name, r.name.n) == 0),
		      "%s: op %zu: node name", name, i);
}

int fx_result(const struct outcome *o, const char *key, struct unpacker *u)
{
	uint32_t n, i;
	const char *s;
	size_t len;

	unpacker_init(u, o->result.data, o->result.len);
	if (unpack_map(u, &n) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(unpack_str(u, &s, &len), 0);
		if (len == strlen(key) && memcmp(s, key, len) == 0)
			return 0;
		ck_assert_int_eq(unpack_skip(u), 0);
	}
	return -1;
}

uint64_t fx_result_uint(const struct outcome *o, const char *key)
{
	struct unpacker u;
	uint64_t v;

	ck_assert_msg(fx_result(o, key, &u) == 0, "no '%s' in the result", key);
	ck_assert_int_eq(unpack_uint(&u, &v), 0);
	return v;
}

static void check_uints(const char *name, const struct outcome *o, const char *key,
			const uint64_t *x)
{
	struct unpacker u;
	uint32_t n, i, want = 0;
	uint64_t v;

	while (want < FX_MAX && x[want] != 0)
		want++;
	if (want == 0)
		return;
	ck_assert_msg(fx_result(o, key, &u) == 0, "%s: no '%s' in the result", name, key);
	ck_assert_int_eq(unpack_array(&u, &n), 0);
	ck_assert_msg(n == want, "%s: %u %s, not %u", name, n, key, want);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(unpack_uint(&u, &v), 0);
		ck_assert_msg(v == x[i], "%s: %s[%u] is %llu, not %llu", name, key, i,
			      (unsigned long long)v, (unsigned long long)x[i]);
	}
}

void fx_check(const struct fx_case *t, const struct outcome *o)
{
	struct delta_op op;
	size_t pos = 0, i, n;
	struct unpacker u;
	const char *s;
	size_t len;

	ck_assert_msg(o->code == t->code, "%s: code %d (%s), not %d", t->name, o->code, o->message,
		      t->code);
	if (t->code != 0)
		ck_assert_msg(o->message[0] != '\0', "%s: a rejection without a message", t->name);
	for (i = 0; t->ops[i].kind != 0; i++) {
		const struct xop *x = &t->ops[i];

		ck_assert_msg(delta_next(&o->delta, &pos, &op) == 0, "%s: op %zu missing", t->name,
			      i);
		ck_assert_msg(op.kind == x->kind && op.table == x->table,
			      "%s: op %zu is (kind %d, table %d), not (%d, %d)", t->name, i,
			      op.kind, op.table, x->kind, x->table);
		if (x->table == TABLE_PROCS) {
			check_proc(t->name, i, &op, &x->proc);
		} else if (x->table == TABLE_NODES) {
			check_node(t->name, i, &op, &x->node);
		} else if (x->table == TABLE_COUNTERS) {
			ck_assert_msg(op.klen == strlen(x->counter) &&
					      memcmp(op.key, x->counter, op.klen) == 0 &&
					      op.vlen == 8 && be64_get(op.val) == x->value,
				      "%s: op %zu: counter %s", t->name, i, x->counter);
		} else if (x->table == TABLE_OUTPUT) {
			uint8_t key[OUTPUT_KEY_LEN];

			output_key(key, x->pid, x->attempt, x->stream, x->seq);
			ck_assert_msg(op.klen == sizeof key && memcmp(op.key, key, sizeof key) == 0,
				      "%s: op %zu: output key", t->name, i);
			ck_assert_msg(op.vlen == x->len, "%s: op %zu: %zu bytes of output, not %zu",
				      t->name, i, op.vlen, x->len);
		}
	}
	ck_assert_msg(delta_next(&o->delta, &pos, &op) == ERR_NOTFOUND,
		      "%s: unexpected op %zu (kind %d, table %d)", t->name, i, op.kind, op.table);
	for (n = 0; n < FX_MAX && t->effects[n].kind != 0; n++)
		;
	ck_assert_msg(effects_count(&o->effects) == n, "%s: %zu effects, not %zu", t->name,
		      effects_count(&o->effects), n);
	for (i = 0; i < n; i++) {
		const struct effect *e = effects_at(&o->effects, i), *x = &t->effects[i];

		ck_assert_msg(e->node == x->node && e->kind == x->kind && e->pid == x->pid &&
				      e->attempt == x->attempt && e->signal == x->signal,
			      "%s: effect %zu is (node %llu, kind %d, pid %llu, attempt %u, "
			      "signal %d)",
			      t->name, i, (unsigned long long)e->node, e->kind,
			      (unsigned long long)e->pid, e->attempt, e->signal);
	}
	if (t->state != NULL) {
		ck_assert_msg(fx_result(o, "state", &u) == 0, "%s: no state", t->name);
		ck_assert_int_eq(unpack_str(&u, &s, &len), 0);
		ck_assert_msg(len == strlen(t->state) && memcmp(s, t->state, len) == 0,
			      "%s: state '%.*s', not '%s'", t->name, (int)len, s, t->state);
	}
	check_uints(t->name, o, "pids", t->pids);
	check_uints(t->name, o, "nodes", t->on);
}

void fx_run(const struct fx_case *t)
{
	struct memview m;
	struct outcome o;
	struct cmd c = t->cmd;
	struct buf a;

	buf_init(&a);
	memview_init(&m, 100);
	fx_setup(&m, t);
	if (c.type == CMD_PROC_SUBMIT && c.u.submit.argv.n == 0)
		argv_ref(&a, &c.u.submit.argv);
	if (c.time_ms == 0)
		c.time_ms = T;
	c.version = CMD_VERSION;
	outcome_init(&o);
	ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
	fx_check(t, &o);
	outcome_release(&o);
	memview_release(&m);
	buf_release(&a);
}

void fx_run_all(const struct fx_case *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fx_run(&t[i]);
}

#define RUN_ALL(cases) fx_run_all(cases, sizeof(cases) / sizeof(cases)[0])

/* Submit and placement */

#define SUBMIT(...)                                                  \
	{                                                            \
		.type = CMD_PROC_SUBMIT, .u.submit = { __VA_ARGS__ } \
	}
#define NAME(s)                  \
	{                        \
		s, sizeof(s) - 1 \
	}

static const struct fx_case place_any[] = {
	{.name = "least loaded, ties to the lowest id",
	 .nodes = {{1, "h1", NODE_STATE_UP, ROLE_VOTER, 2},
		   {2, "h2", NODE_STATE_UP, ROLE_VOTER, 1},
		   {3, "h3", NODE_STATE_UP, ROLE_VOTER, 1}},
	 .pid_counter = 4,
	 .cmd = SUBMIT(.placement = PLACE_ANY, .restart = RESTART_NO),
	 .ops = {XPROC(.pid = 5, .node = 2, .attempt = 1, .submitted_ms = T),
		 XNODE(2, "h2", NODE_STATE_UP, ROLE_VOTER, 2), XCOUNTER("pid", 5)},
	 .effects = {{2, EFFECT_START, 5, 1, 0}},
	 .pids = {5},
	 .on = {2}},
	{.name = "skips draining, down and left nodes; first pid is 1",
	 .nodes = {{1, "h1", NODE_STATE_DRAINING, ROLE_VOTER, 0},
		   {2, "h2", NODE_STATE_DOWN, ROLE_VOTER, 0},
		   {3, "h3", NODE_STATE_LEFT, ROLE_VOTER, 0},
		   {4, "h4", NODE_STATE_UP, ROLE_STANDBY, 9}},
	 .cmd = SUBMIT(.placement = PLACE_ANY, .restart = RESTART_ALWAYS, .timeout_ms = 5000),
	 .ops = {XPROC(.pid = 1, .node = 4, .restart = RESTART_ALWAYS, .attempt = 1,
		       .submitted_ms = T),
		 XNODE(4, "h4", NODE_STATE_UP, ROLE_STANDBY, 10), XCOUNTER("pid", 1)},
	 .effects = {{4, EFFECT_START, 1, 1, 0}},
	 .pids = {1},
	 .on = {4}},
	{.name = "no live node",
	 .nodes = {{1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 0},
		   {2, "h2", NODE_STATE_DRAINING, ROLE_VOTER, 0}},
	 .cmd = SUBMIT(.placement = PLACE_ANY),
	 .code = ERR_BUSY},
	{.name = "no node at all", .cmd = SUBMIT(.placement = PLACE_ANY), .code = ERR_BUSY},
};

START_TEST(test_proc_submit_any)
{
	RUN_ALL(place_any);
}
END_TEST

static const struct fx_case place_node[] = {
	{.name = "the named node, whatever its load",
	 .nodes = {{1, "h1", NODE_STATE_UP, ROLE_VOTER, 5},
		   {2, "h2", NODE_STATE_UP, ROLE_VOTER, 0}},
	 .pid_counter = 7,
	 .cmd = SUBMIT(.placement = PLACE_NODE, .node = NAME("h1"), .restart = RESTART_ON_FAILURE,
		       .max_restarts = 3),
	 .ops = {XPROC(.pid = 8, .placement = PLACE_NODE, .node = 1, .restart = RESTART_ON_FAILURE,
		       .max_restarts = 3, .attempt = 1, .submitted_ms = T),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 6), XCOUNTER("pid", 8)},
	 .effects = {{1, EFFECT_START, 8, 1, 0}},
	 .pids = {8},
	 .on = {1}},
	{.name = "a down node: pending there",
	 .nodes = {{1, "h1", NODE_STATE_UP, ROLE_VOTER, 0},
		   {2, "h2", NODE_STATE_DOWN, ROLE_VOTER, 0}},
	 .cmd = SUBMIT(.placement = PLACE_NODE, .node = NAME("h2")),
	 .ops = {XPROC(.pid = 1, .placement = PLACE_NODE, .node = 2, .attempt = 1,
		       .submitted_ms = T),
		 XNODE(2, "h2", NODE_STATE_DOWN, ROLE_VOTER, 1), XCOUNTER("pid", 1)},
	 .effects = {{2, EFFECT_START, 1, 1, 0}},
	 .pids = {1},
	 .on = {2}},
	{.name = "unknown node",
	 .nodes = {{1, "h1", NODE_STATE_UP, ROLE_VOTER, 0}},
	 .cmd = SUBMIT(.placement = PLACE_NODE, .node = NAME("h9")),
	 .code = ERR_NOTFOUND},
	{.name = "draining node",
	 .nodes = {{1, "h1", NODE_STATE_DRAINING, ROLE_VOTER, 0}},
	 .cmd = SUBMIT(.placement = PLACE_NODE, .node = NAME("h1")),
	 .code = ERR_CONFLICT},
	{.name = "left node",
	 .nodes = {{1, "h1", NODE_STATE_LEFT, ROLE_VOTER, 0}},
	 .cmd = SUBMIT(.placement = PLACE_NODE, .node = NAME("h1")),
	 .code = ERR_CONFLICT},
};

START_TEST(test_proc_submit_node)
{
	RUN_ALL(place_node);
}
END_TEST

static const struct fx_case place_all[] = {
	{.name = "one per up node, consecutive pids in node order",
	 .nodes = {{1, "h1", NODE_STATE_UP, ROLE_VOTER, 3},
		   {2, "h2", NODE_STATE_DOWN, ROLE_VOTER, 0},
		   {3, "h3", NODE_STATE_UP, ROLE_VOTER, 0},
		   {4, "h4", NODE_STATE_DRAINING, ROLE_VOTER, 0}},
	 .pid_counter = 10,
	 .cmd = SUBMIT(.placement = PLACE_ALL, .restart = RESTART_ALWAYS),
	 .ops = {XPROC(.pid = 11, .placement = PLACE_ALL, .node = 1, .restart = RESTART_ALWAYS,
		       .attempt = 1, .submitted_ms = T),
		 XPROC(.pid = 12, .placement = PLACE_ALL, .node = 3, .restart = RESTART_ALWAYS,
		       .attempt = 1, .submitted_ms = T),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 4),
		 XNODE(3, "h3", NODE_STATE_UP, ROLE_VOTER, 1), XCOUNTER("pid", 12)},
	 .effects = {{1, EFFECT_START, 11, 1, 0}, {3, EFFECT_START, 12, 1, 0}},
	 .pids = {11, 12},
	 .on = {1, 3}},
	{.name = "no up node",
	 .nodes = {{1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 0}},
	 .cmd = SUBMIT(.placement = PLACE_ALL),
	 .code = ERR_BUSY},
};

START_TEST(test_proc_submit_all)
{
	RUN_ALL(place_all);
}
END_TEST

static const struct fx_case place_count[] = {
	{.name = "count copies spread by least load, ties to the lowest id",
	 .nodes = {{1, "h1", NODE_STATE_UP, ROLE_VOTER, 2},
		   {2, "h2", NODE_STATE_UP, ROLE_VOTER, 0},
		   {3, "h3", NODE_STATE_UP, ROLE_VOTER, 1},
		   {4, "h4", NODE_STATE_DOWN, ROLE_VOTER, 0}},
	 .pid_counter = 10,
	 .cmd = SUBMIT(.placement = PLACE_ANY, .count = 5),
	 /* Loads (h1, h2, h3): 2,0,1 → h2; 2,1,1 → h2; 2,2,1 → h3; 2,2,2 →
	  * h1; 3,2,2 → h2; ends at 3,3,2. */
	 .ops = {XPROC(.pid = 11, .node = 2, .attempt = 1, .submitted_ms = T),
		 XPROC(.pid = 12, .node = 2, .attempt = 1, .submitted_ms = T),
		 XPROC(.pid = 13, .node = 3, .attempt = 1, .submitted_ms = T),
		 XPROC(.pid = 14, .node = 1, .attempt = 1, .submitted_ms = T),
		 XPROC(.pid = 15, .node = 2, .attempt = 1, .submitted_ms = T),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 3),
		 XNODE(2, "h2", NODE_STATE_UP, ROLE_VOTER, 3),
		 XNODE(3, "h3", NODE_STATE_UP, ROLE_VOTER, 2), XCOUNTER("pid", 15)},
	 .effects = {{2, EFFECT_START, 11, 1, 0},
		     {2, EFFECT_START, 12, 1, 0},
		     {3, EFFECT_START, 13, 1, 0},
		     {1, EFFECT_START, 14, 1, 0},
		     {2, EFFECT_START, 15, 1, 0}},
	 .pids = {11, 12, 13, 14, 15},
	 .on = {2, 2, 3, 1, 2}},
	{.name = "count copies on a named node",
	 .nodes = {{1, "h1", NODE_STATE_UP, ROLE_VOTER, 4},
		   {2, "h2", NODE_STATE_UP, ROLE_VOTER, 0}},
	 .cmd = SUBMIT(.placement = PLACE_NODE, .node = NAME("h1"), .count = 3),
	 .ops = {XPROC(.pid = 1, .placement = PLACE_NODE, .node = 1, .attempt = 1,
		       .submitted_ms = T),
		 XPROC(.pid = 2, .placement = PLACE_NODE, .node = 1, .attempt = 1,
		       .submitted_ms = T),
		 XPROC(.pid = 3, .placement = PLACE_NODE, .node = 1, .attempt = 1,
		       .submitted_ms = T),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 7), XCOUNTER("pid", 3)},
	 .effects = {{1, EFFECT_START, 1, 1, 0},
		     {1, EFFECT_START, 2, 1, 0},
		     {1, EFFECT_START, 3, 1, 0}},
	 .pids = {1, 2, 3},
	 .on = {1, 1, 1}},
	{.name = "count 1 is one process",
	 .nodes = {{1, "h1", NODE_STATE_UP, ROLE_VOTER, 0}},
	 .cmd = SUBMIT(.placement = PLACE_ANY, .count = 1),
	 .ops = {XPROC(.pid = 1, .node = 1, .attempt = 1, .submitted_ms = T),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 1), XCOUNTER("pid", 1)},
	 .effects = {{1, EFFECT_START, 1, 1, 0}},
	 .pids = {1},
	 .on = {1}},
	{.name = "count with placement on all nodes: rejected, nothing changes",
	 .nodes = {{1, "h1", NODE_STATE_UP, ROLE_VOTER, 0}},
	 .cmd = SUBMIT(.placement = PLACE_ALL, .count = 2),
	 .code = ERR_INVALID},
	{.name = "count with no live node: rejected",
	 .nodes = {{1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 0}},
	 .cmd = SUBMIT(.placement = PLACE_ANY, .count = 4),
	 .code = ERR_BUSY},
};

START_TEST(test_proc_submit_count)
{
	RUN_ALL(place_count);
}
END_TEST

/* The placement of one command of many copies is O(nodes) per copy and
 * still exact at the limit: CMD_COUNT_MAX copies over 3 nodes end with
 * loads that differ by at most one, in one delta. */
START_TEST(test_proc_submit_count_max_spreads_evenly)
{
	struct fx_case t = {.name = "count max",
			    .nodes = {{1, "h1", NODE_STATE_UP, ROLE_VOTER, 0},
				      {2, "h2", NODE_STATE_UP, ROLE_VOTER, 0},
				      {3, "h3", NODE_STATE_UP, ROLE_VOTER, 0}},
			    .cmd = SUBMIT(.placement = PLACE_ANY, .count = CMD_COUNT_MAX)};
	struct memview m;
	struct outcome o;
	struct buf a;
	uint32_t per[4] = {0}, n = 0, i;
	struct unpacker u;
	uint64_t node;

	buf_init(&a);
	memview_init(&m, 100);
	fx_setup(&m, &t);
	argv_ref(&a, &t.cmd.u.submit.argv);
	t.cmd.version = CMD_VERSION;
	t.cmd.time_ms = T;
	outcome_init(&o);
	ck_assert_int_eq(memview_run(&m, &t.cmd, &o), 0);
	ck_assert_int_eq(o.code, 0);
	ck_assert_uint_eq(effects_count(&o.effects), CMD_COUNT_MAX);
	ck_assert_int_eq(fx_result(&o, "nodes", &u), 0);
	ck_assert_int_eq(unpack_array(&u, &n), 0);
	ck_assert_uint_eq(n, CMD_COUNT_MAX);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(unpack_uint(&u, &node), 0);
		ck_assert_uint_ge(node, 1);
		ck_assert_uint_le(node, 3);
		per[node]++;
		/* Round robin from equal loads: 1, 2, 3, 1, 2, 3, ... */
		ck_assert_uint_eq(node, i % 3 + 1);
	}
	ck_assert_uint_eq(per[1], 3334);
	ck_assert_uint_eq(per[2], 3333);
	ck_assert_uint_eq(per[3], 3333);
	ck_assert_uint_eq(m.n[TABLE_PROCS], CMD_COUNT_MAX);
	outcome_release(&o);
	memview_release(&m);
	buf_release(&a);
}
END_TEST

/* A retried submission with the same idempotency key gets the same pids and
 * changes nothing. */
START_TEST(test_proc_submit_idempotent)
{
	static const struct fx_case first = {
		.name = "first",
		.nodes = {{1, "h1", NODE_STATE_UP, ROLE_VOTER, 0}},
		.ops = {XPROC(.pid = 1, .node = 1, .attempt = 1, .submitted_ms = T),
			XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 1), XCOUNTER("pid", 1), XIDEM},
		.effects = {{1, EFFECT_START, 1, 1, 0}},
		.pids = {1},
		.on = {1}};
	static const struct fx_case again = {.name = "again", .pids = {1}, .on = {1}};
	struct memview m;
	struct outcome o;
	struct cmd c;
	struct buf a;

	buf_init(&a);
	memview_init(&m, 100);
	fx_setup(&m, &first);
	memset(&c, 0, sizeof c);
	c.version = CMD_VERSION;
	c.type = CMD_PROC_SUBMIT;
	c.time_ms = T;
	c.key = memview_str("deploy-1");
	argv_ref(&a, &c.u.submit.argv);
	c.body.p = (const uint8_t *)"body";
	c.body.n = 4;
	outcome_init(&o);
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	fx_check(&first, &o);
	c.time_ms = T + 1000; /* a retry, later */
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	fx_check(&again, &o);
	ck_assert_uint_eq(m.n[TABLE_PROCS], 1);
	outcome_release(&o);
	memview_release(&m);
	buf_release(&a);
}
END_TEST

/* Started */

#define STARTED(from, p, a, os)                                                            \
	{                                                                                  \
		.type = CMD_PROC_STARTED, .origin = (from), .u.started = {(p), (a), (os) } \
	}

static const struct fx_case started[] = {
	{.name = "pending to running",
	 .procs = {{.pid = 1, .node = 2, .attempt = 1, .submitted_ms = 5}},
	 .cmd = STARTED(2, 1, 1, 4242),
	 .ops = {XPROC(.pid = 1, .node = 2, .state = PROC_STATE_RUNNING, .attempt = 1,
		       .os_pid = 4242, .submitted_ms = 5, .started_ms = T)},
	 .state = "running"},
	{.name = "a repeat is a no-op",
	 .procs =
		 {{.pid = 1, .node = 2, .state = PROC_STATE_RUNNING, .attempt = 1, .os_pid = 4242}},
	 .cmd = STARTED(2, 1, 1, 4242),
	 .state = "running"},
	{.name = "a stale attempt",
	 .procs = {{.pid = 1, .node = 2, .attempt = 2}},
	 .cmd = STARTED(2, 1, 1, 4242),
	 .code = ERR_CONFLICT},
	{.name = "from another node",
	 .procs = {{.pid = 1, .node = 2, .attempt = 1}},
	 .cmd = STARTED(3, 1, 1, 4242),
	 .code = ERR_CONFLICT},
	{.name = "killed while pending",
	 .procs = {{.pid = 1,
		    .node = 2,
		    .attempt = 1,
		    .state = PROC_STATE_KILLED,
		    .kill_signal = 15}},
	 .cmd = STARTED(2, 1, 1, 4242),
	 .code = ERR_CONFLICT},
	{.name = "unknown process", .cmd = STARTED(2, 1, 1, 4242), .code = ERR_NOTFOUND},
};

START_TEST(test_proc_started)
{
	RUN_ALL(started);
}
END_TEST

/* Output */

#define OUTPUT(p, a, s, q, data)                                    \
	{                                                           \
		.type = CMD_PROC_OUTPUT, .origin = 1, .u.output = { \
			(p),                                        \
			(a),                                        \
			(s),                                        \
			(q),                                        \
			{(const uint8_t *)(data), sizeof(data) - 1} \
		}                                                   \
	}
#define CAP PROC_OUTPUT_CAP

static const struct fx_case output[] = {
	{.name = "a chunk is stored",
	 .procs = {{.pid = 1,
		    .node = 1,
		    .state = PROC_STATE_RUNNING,
		    .attempt = 1,
		    .output_bytes = 10}},
	 .cmd = OUTPUT(1, 1, STREAM_STDERR, 3, "hello"),
	 .ops = {XOUTPUT(1, 1, STREAM_STDERR, 3, 5),
		 XPROC(.pid = 1, .node = 1, .state = PROC_STATE_RUNNING, .attempt = 1,
		       .output_bytes = 15)}},
	{.name = "output of an earlier attempt is kept",
	 .procs = {{.pid = 1, .node = 1, .attempt = 2}},
	 .cmd = OUTPUT(1, 1, STREAM_STDOUT, 0, "hello"),
	 .ops = {XOUTPUT(1, 1, STREAM_STDOUT, 0, 5),
		 XPROC(.pid = 1, .node = 1, .attempt = 2, .output_bytes = 5)}},
	{.name = "the part up to the cap is stored, and the truncation recorded",
	 .procs = {{.pid = 1,
		    .node = 1,
		    .state = PROC_STATE_RUNNING,
		    .attempt = 1,
		    .output_bytes = CAP - 3}},
	 .cmd = OUTPUT(1, 1, STREAM_STDOUT, 9, "hello"),
	 .ops = {XOUTPUT(1, 1, STREAM_STDOUT, 9, 3),
		 XPROC(.pid = 1, .node = 1, .state = PROC_STATE_RUNNING, .attempt = 1,
		       .output_bytes = CAP, .truncated = true)}},
	{.name = "at the cap: not stored, truncation recorded",
	 .procs = {{.pid = 1,
		    .node = 1,
		    .state = PROC_STATE_RUNNING,
		    .attempt = 1,
		    .output_bytes = CAP}},
	 .cmd = OUTPUT(1, 1, STREAM_STDOUT, 9, "hello"),
	 .ops = {XPROC(.pid = 1, .node = 1, .state = PROC_STATE_RUNNING, .attempt = 1,
		       .output_bytes = CAP, .truncated = true)}},
	{.name = "past the cap, already recorded: nothing changes",
	 .procs = {{.pid = 1,
		    .node = 1,
		    .state = PROC_STATE_RUNNING,
		    .attempt = 1,
		    .output_bytes = CAP,
		    .truncated = true}},
	 .cmd = OUTPUT(1, 1, STREAM_STDOUT, 10, "hello")},
	{.name = "a future attempt",
	 .procs = {{.pid = 1, .node = 1, .attempt = 1}},
	 .cmd = OUTPUT(1, 2, STREAM_STDOUT, 0, "hello"),
	 .code = ERR_CONFLICT},
	{.name = "unknown process",
	 .cmd = OUTPUT(1, 1, STREAM_STDOUT, 0, "x"),
	 .code = ERR_NOTFOUND},
};

START_TEST(test_proc_output)
{
	RUN_ALL(output);
}
END_TEST

START_TEST(test_proc_output_duplicate)
{
	static const struct pspec p = {
		.pid = 1, .node = 1, .state = PROC_STATE_RUNNING, .attempt = 1};
	static const struct fx_case first = {
		.name = "first",
		.ops = {XOUTPUT(1, 1, STREAM_STDOUT, 0, 5),
			XPROC(.pid = 1, .node = 1, .state = PROC_STATE_RUNNING, .attempt = 1,
			      .output_bytes = 5)}};
	static const struct fx_case dup = {.name = "duplicate"};
	static const struct cmd c = OUTPUT(1, 1, STREAM_STDOUT, 0, "hello");
	struct memview m;
	struct outcome o;

	memview_init(&m, 100);
	fx_set_proc(&m, &p);
	outcome_init(&o);
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	fx_check(&first, &o);
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	fx_check(&dup, &o);
	ck_assert_uint_eq(fx_result_uint(&o, "stored"), 0);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

/* Exited and the restart policies */

#define EXITED(p, a, code, sig)                                                              \
	{                                                                                    \
		.type = CMD_PROC_EXITED, .origin = 1, .u.exited = {(p), (a), (code), (sig) } \
	}
#define H1(load)                                           \
	{                                                  \
		1, "h1", NODE_STATE_UP, ROLE_VOTER, (load) \
	}
#define RUNNING_ON_1(...)                                                                         \
	{                                                                                         \
		.pid = 7, .node = 1, .state = PROC_STATE_RUNNING, .os_pid = 99, .started_ms = 50, \
		__VA_ARGS__                                                                       \
	}

static const struct fx_case exited[] = {
	{.name = "exit 0: exited",
	 .nodes = {H1(1)},
	 .procs = {RUNNING_ON_1(.attempt = 1)},
	 .cmd = EXITED(7, 1, 0, 0),
	 .ops = {XPROC(.pid = 7, .node = 1, .state = PROC_STATE_EXITED, .attempt = 1, .os_pid = 99,
		       .started_ms = 50, .ended_ms = T),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 0)},
	 .state = "exited"},
	{.name = "exit 3: failed",
	 .nodes = {H1(1)},
	 .procs = {RUNNING_ON_1(.attempt = 1)},
	 .cmd = EXITED(7, 1, 3, 0),
	 .ops = {XPROC(.pid = 7, .node = 1, .state = PROC_STATE_FAILED, .attempt = 1,
		       .exit_code = 3, .os_pid = 99, .started_ms = 50, .ended_ms = T),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 0)},
	 .state = "failed"},
	{.name = "a signal: failed",
	 .nodes = {H1(1)},
	 .procs = {RUNNING_ON_1(.attempt = 1)},
	 .cmd = EXITED(7, 1, -1, 11),
	 .ops = {XPROC(.pid = 7, .node = 1, .state = PROC_STATE_FAILED, .attempt = 1,
		       .exit_code = -1, .signal = 11, .os_pid = 99, .started_ms = 50,
		       .ended_ms = T),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 0)},
	 .state = "failed"},
	{.name = "after a kill: killed, not restarted",
	 .nodes = {H1(1)},
	 .procs = {RUNNING_ON_1(.attempt = 1, .restart = RESTART_ALWAYS, .kill_signal = 15)},
	 .cmd = EXITED(7, 1, -1, 15),
	 .ops = {XPROC(.pid = 7, .node = 1, .restart = RESTART_ALWAYS, .state = PROC_STATE_KILLED,
		       .attempt = 1, .exit_code = -1, .signal = 15, .os_pid = 99, .started_ms = 50,
		       .ended_ms = T, .kill_signal = 15),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 0)},
	 .state = "killed"},
	{.name = "on-failure: a failure restarts on the same node",
	 .nodes = {H1(1)},
	 .procs = {RUNNING_ON_1(.attempt = 1, .restart = RESTART_ON_FAILURE, .max_restarts = 2)},
	 .cmd = EXITED(7, 1, 3, 0),
	 .ops = {XPROC(.pid = 7, .node = 1, .restart = RESTART_ON_FAILURE, .max_restarts = 2,
		       .restarts = 1, .attempt = 2),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 1)},
	 .effects = {{1, EFFECT_START, 7, 2, 0}},
	 .state = "pending"},
	{.name = "on-failure: restarts used up",
	 .nodes = {H1(1)},
	 .procs = {RUNNING_ON_1(.attempt = 3, .restart = RESTART_ON_FAILURE, .max_restarts = 2,
				.restarts = 2)},
	 .cmd = EXITED(7, 3, 3, 0),
	 .ops = {XPROC(.pid = 7, .node = 1, .restart = RESTART_ON_FAILURE, .max_restarts = 2,
		       .restarts = 2, .state = PROC_STATE_FAILED, .attempt = 3, .exit_code = 3,
		       .os_pid = 99, .started_ms = 50, .ended_ms = T),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 0)},
	 .state = "failed"},
	{.name = "on-failure: exit 0 is not restarted",
	 .nodes = {H1(1)},
	 .procs = {RUNNING_ON_1(.attempt = 1, .restart = RESTART_ON_FAILURE)},
	 .cmd = EXITED(7, 1, 0, 0),
	 .ops = {XPROC(.pid = 7, .node = 1, .restart = RESTART_ON_FAILURE,
		       .state = PROC_STATE_EXITED, .attempt = 1, .os_pid = 99, .started_ms = 50,
		       .ended_ms = T),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 0)},
	 .state = "exited"},
	{.name = "always: exit 0 restarts too",
	 .nodes = {H1(1)},
	 .procs = {RUNNING_ON_1(.attempt = 4, .restart = RESTART_ALWAYS, .restarts = 3)},
	 .cmd = EXITED(7, 4, 0, 0),
	 .ops = {XPROC(.pid = 7, .node = 1, .restart = RESTART_ALWAYS, .restarts = 4, .attempt = 5),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 1)},
	 .effects = {{1, EFFECT_START, 7, 5, 0}},
	 .state = "pending"},
	{.name = "any node: a restart leaves a node that is no longer up",
	 .nodes = {{1, "h1", NODE_STATE_DRAINING, ROLE_VOTER, 1},
		   {2, "h2", NODE_STATE_UP, ROLE_VOTER, 4},
		   {3, "h3", NODE_STATE_UP, ROLE_VOTER, 2}},
	 .procs = {RUNNING_ON_1(.attempt = 1, .restart = RESTART_ALWAYS)},
	 .cmd = EXITED(7, 1, 1, 0),
	 .ops = {XPROC(.pid = 7, .node = 3, .restart = RESTART_ALWAYS, .restarts = 1, .attempt = 2),
		 XNODE(1, "h1", NODE_STATE_DRAINING, ROLE_VOTER, 0),
		 XNODE(3, "h3", NODE_STATE_UP, ROLE_VOTER, 3)},
	 .effects = {{3, EFFECT_START, 7, 2, 0}},
	 .state = "pending"},
	{.name = "a stale attempt",
	 .nodes = {H1(1)},
	 .procs = {RUNNING_ON_1(.attempt = 2)},
	 .cmd = EXITED(7, 1, 0, 0),
	 .code = ERR_CONFLICT},
	{.name = "a repeat of the end is a no-op",
	 .nodes = {H1(0)},
	 .procs = {{.pid = 7, .node = 1, .state = PROC_STATE_FAILED, .attempt = 1, .exit_code = 3}},
	 .cmd = EXITED(7, 1, 3, 0),
	 .state = "failed"},
	{.name = "unknown process", .cmd = EXITED(7, 1, 0, 0), .code = ERR_NOTFOUND},
};

START_TEST(test_proc_exited)
{
	RUN_ALL(exited);
}
END_TEST

/* on-failure:2 restarts twice, then the process stays failed. */
START_TEST(test_proc_restart_limit)
{
	static const struct nspec h1 = H1(0);
	struct memview m;
	struct outcome o;
	struct cmd c;
	struct buf a;
	uint32_t attempt;
	const struct memrow *row;
	struct proc_row p;
	uint8_t key[PROC_KEY_LEN];

	buf_init(&a);
	memview_init(&m, 100);
	fx_set_node(&m, &h1);
	outcome_init(&o);
	memset(&c, 0, sizeof c);
	c.version = CMD_VERSION;
	c.type = CMD_PROC_SUBMIT;
	c.time_ms = T;
	argv_ref(&a, &c.u.submit.argv);
	c.u.submit.restart = RESTART_ON_FAILURE;
	c.u.submit.max_restarts = 2;
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	ck_assert_int_eq(o.code, 0);
	proc_key(key, 1);
	for (attempt = 1; attempt <= 3; attempt++) {
		memset(&c, 0, sizeof c);
		c.version = CMD_VERSION;
		c.type = CMD_PROC_STARTED;
		c.origin = 1;
		c.time_ms = T + attempt;
		c.u.started.pid = 1;
		c.u.started.attempt = attempt;
		c.u.started.os_pid = 100 + attempt;
		ck_assert_int_eq(memview_run(&m, &c, &o), 0);
		ck_assert_int_eq(o.code, 0);
		c.type = CMD_PROC_EXITED;
		c.u.exited.pid = 1;
		c.u.exited.attempt = attempt;
		c.u.exited.exit_code = 1;
		c.u.exited.signal = 0;
		ck_assert_int_eq(memview_run(&m, &c, &o), 0);
		ck_assert_int_eq(o.code, 0);
		row = memview_find(&m, TABLE_PROCS, key, sizeof key);
		ck_assert_ptr_nonnull(row);
		ck_assert_int_eq(proc_row_decode(row->val, row->vlen, &p), 0);
		if (attempt < 3) {
			ck_assert_int_eq(p.state, PROC_STATE_PENDING);
			ck_assert_uint_eq(p.attempt, attempt + 1);
			ck_assert_uint_eq(p.restarts, attempt);
			ck_assert_uint_eq(effects_count(&o.effects), 1);
		} else {
			ck_assert_int_eq(p.state, PROC_STATE_FAILED);
			ck_assert_uint_eq(p.attempt, 3);
			ck_assert_uint_eq(p.restarts, 2);
			ck_assert_int_eq(p.exit_code, 1);
			ck_assert_uint_eq(effects_count(&o.effects), 0);
		}
	}
	outcome_release(&o);
	memview_release(&m);
	buf_release(&a);
}
END_TEST

/* Kill */

#define KILL(p, sig)                                           \
	{                                                      \
		.type = CMD_PROC_KILL, .u.kill = {(p), (sig) } \
	}

static const struct fx_case kill[] = {
	{.name = "pending: killed now",
	 .nodes = {H1(1)},
	 .procs = {{.pid = 7, .node = 1, .attempt = 1, .restart = RESTART_ALWAYS}},
	 .cmd = KILL(7, 15),
	 .ops = {XPROC(.pid = 7, .node = 1, .restart = RESTART_ALWAYS, .state = PROC_STATE_KILLED,
		       .attempt = 1, .ended_ms = T, .kill_signal = 15),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 0)},
	 .state = "killed"},
	{.name = "running: signalled, killed when it exits",
	 .nodes = {H1(1)},
	 .procs = {RUNNING_ON_1(.attempt = 2)},
	 .cmd = KILL(7, 9),
	 .ops = {XPROC(.pid = 7, .node = 1, .state = PROC_STATE_RUNNING, .attempt = 2, .os_pid = 99,
		       .started_ms = 50, .kill_signal = 9)},
	 .effects = {{1, EFFECT_SIGNAL, 7, 2, 9}},
	 .state = "running"},
	{.name = "already exited",
	 .procs = {{.pid = 7, .node = 1, .state = PROC_STATE_EXITED, .attempt = 1}},
	 .cmd = KILL(7, 15),
	 .code = ERR_CONFLICT},
	{.name = "unknown process", .cmd = KILL(7, 15), .code = ERR_NOTFOUND},
};

START_TEST(test_proc_kill)
{
	RUN_ALL(kill);
}
END_TEST

/* Lost */

#define LOST(p, a)                                                             \
	{                                                                      \
		.type = CMD_PROC_LOST, .u.lost = {(p), (a), {"host down", 9} } \
	}

static const struct fx_case lost[] = {
	{.name = "no restart: lost",
	 .nodes = {H1(1)},
	 .procs = {RUNNING_ON_1(.attempt = 1)},
	 .cmd = LOST(7, 1),
	 .ops = {XPROC(.pid = 7, .node = 1, .state = PROC_STATE_LOST, .attempt = 1, .os_pid = 99,
		       .started_ms = 50, .ended_ms = T),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 0)},
	 .state = "lost"},
	{.name = "host down: restarted on another node",
	 .nodes = {{1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 1},
		   {2, "h2", NODE_STATE_UP, ROLE_VOTER, 0}},
	 .procs = {RUNNING_ON_1(.attempt = 1, .restart = RESTART_ON_FAILURE)},
	 .cmd = LOST(7, 1),
	 .ops = {XPROC(.pid = 7, .node = 2, .restart = RESTART_ON_FAILURE, .restarts = 1,
		       .attempt = 2),
		 XNODE(1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 0),
		 XNODE(2, "h2", NODE_STATE_UP, ROLE_VOTER, 1)},
	 .effects = {{2, EFFECT_START, 7, 2, 0}},
	 .state = "pending"},
	{.name = "agent restarted, host up: restarted in place",
	 .nodes = {H1(1), {2, "h2", NODE_STATE_UP, ROLE_VOTER, 0}},
	 .procs = {RUNNING_ON_1(.attempt = 1, .restart = RESTART_ALWAYS)},
	 .cmd = LOST(7, 1),
	 .ops = {XPROC(.pid = 7, .node = 1, .restart = RESTART_ALWAYS, .restarts = 1, .attempt = 2),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 1)},
	 .effects = {{1, EFFECT_START, 7, 2, 0}},
	 .state = "pending"},
	{.name = "bound to a down node: waits there",
	 .nodes = {{1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 1},
		   {2, "h2", NODE_STATE_UP, ROLE_VOTER, 0}},
	 .procs = {RUNNING_ON_1(.attempt = 1, .placement = PLACE_NODE,
				.restart = RESTART_ON_FAILURE)},
	 .cmd = LOST(7, 1),
	 .ops = {XPROC(.pid = 7, .placement = PLACE_NODE, .node = 1, .restart = RESTART_ON_FAILURE,
		       .restarts = 1, .attempt = 2),
		 XNODE(1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 1)},
	 .effects = {{1, EFFECT_START, 7, 2, 0}},
	 .state = "pending"},
	{.name = "no live node: pending nowhere",
	 .nodes = {{1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 1}},
	 .procs = {RUNNING_ON_1(.attempt = 1, .restart = RESTART_ALWAYS)},
	 .cmd = LOST(7, 1),
	 .ops = {XPROC(.pid = 7, .node = 0, .restart = RESTART_ALWAYS, .restarts = 1, .attempt = 2),
		 XNODE(1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 0)},
	 .state = "pending"},
	{.name = "a stale attempt",
	 .nodes = {H1(1)},
	 .procs = {RUNNING_ON_1(.attempt = 2)},
	 .cmd = LOST(7, 1),
	 .code = ERR_CONFLICT},
	{.name = "unknown process", .cmd = LOST(7, 1), .code = ERR_NOTFOUND},
};

START_TEST(test_proc_lost)
{
	RUN_ALL(lost);
}
END_TEST

/* Rows */

START_TEST(test_proc_row_roundtrip)
{
	static const struct pspec x = {.pid = 42,
				       .placement = PLACE_NODE,
				       .node = 3,
				       .restart = RESTART_ON_FAILURE,
				       .max_restarts = 5,
				       .restarts = 2,
				       .state = PROC_STATE_FAILED,
				       .attempt = 3,
				       .exit_code = -1,
				       .signal = 9,
				       .os_pid = 777,
				       .submitted_ms = 1,
				       .started_ms = 2,
				       .ended_ms = 3,
				       .output_bytes = 4,
				       .truncated = true,
				       .kill_signal = 9};
	struct memview m;
	const struct memrow *row;
	struct delta_op op;
	struct proc_row r;
	uint8_t key[PROC_KEY_LEN];
	struct buf b;

	memview_init(&m, 1);
	fx_set_proc(&m, &x);
	proc_key(key, 42);
	row = memview_find(&m, TABLE_PROCS, key, sizeof key);
	ck_assert_ptr_nonnull(row);
	memset(&op, 0, sizeof op);
	op.key = row->key;
	op.klen = row->klen;
	op.val = row->val;
	op.vlen = row->vlen;
	check_proc("roundtrip", 0, &op, &x);

	/* A later version's extra field is skipped; anything else malformed
	 * is corrupt, whatever the prefix. */
	buf_init(&b);
	buf_append(&b, row->val, row->vlen);
	b.data[2]++; /* array 16: one more field */
	buf_put_u8(&b, 0x07);
	ck_assert_int_eq(proc_row_decode(b.data, b.len, &r), 0);
	ck_assert_uint_eq(r.pid, 42);
	for (size_t n = 0; n < row->vlen; n++)
		ck_assert_int_eq(proc_row_decode(row->val, n, &r), ERR_CORRUPT);
	b.len = 0;
	buf_append(&b, row->val, row->vlen);
	buf_put_u8(&b, 0xc0); /* trailing bytes */
	ck_assert_int_eq(proc_row_decode(b.data, b.len, &r), ERR_CORRUPT);
	ck_assert_int_eq(proc_row_decode("\x91\x01", 2, &r), ERR_CORRUPT);
	buf_release(&b);
	memview_release(&m);
}
END_TEST

Suite *proc_suite(void)
{
	Suite *s = suite_create("proc");
	TCase *tc = tcase_create("transitions");

	tcase_add_test(tc, test_proc_submit_any);
	tcase_add_test(tc, test_proc_submit_node);
	tcase_add_test(tc, test_proc_submit_all);
	tcase_add_test(tc, test_proc_submit_count);
	tcase_add_test(tc, test_proc_submit_count_max_spreads_evenly);
	tcase_add_test(tc, test_proc_submit_idempotent);
	tcase_add_test(tc, test_proc_started);
	tcase_add_test(tc, test_proc_output);
	tcase_add_test(tc, test_proc_output_duplicate);
	tcase_add_test(tc, test_proc_exited);
	tcase_add_test(tc, test_proc_restart_limit);
	tcase_add_test(tc, test_proc_kill);
	tcase_add_test(tc, test_proc_lost);
	tcase_add_test(tc, test_proc_row_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}
