/*
 * Tests of the nodes service (services/nodes.h): join (ids, unique names,
 * default roles, the bootstrap node), remove, drain, down and up with what
 * each does to the node's processes (lost and restarted by policy, moved,
 * adopted), and role. Each case gives initial rows and one command and checks
 * the exact delta, effects and result (proc_fixture.h).
 */
#include "config.h"

#include <stdint.h>
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

#define RUN_ALL(cases) fx_run_all(cases, sizeof(cases) / sizeof(cases)[0])
#define NAME(s)                  \
	{                        \
		s, sizeof(s) - 1 \
	}
#define UP(id, name, load)                                      \
	{                                                       \
		(id), (name), NODE_STATE_UP, ROLE_VOTER, (load) \
	}
#define NODE_CMD(t, id)                        \
	{                                      \
		.type = (t), .u.node = {(id) } \
	}

/* Join */

#define JOIN(i, n)                                 \
	{                                          \
		.type = CMD_NODE_JOIN, .u.join = { \
			(i),                       \
			NAME(n),                   \
			NAME("10.0.0.9:7701"),     \
			NAME("10.0.0.9:7700")      \
		}                                  \
	}

struct join_case {
	struct fx_case fx;
	uint64_t id;
	const char *role;
};

static const struct join_case joins[] = {
	{.fx = {.name = "the bootstrap node takes its id and is a voter",
		.cmd = JOIN(1, "h1"),
		.ops = {XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 0), XCOUNTER("node", 1)}},
	 .id = 1,
	 .role = "voter"},
	{.fx = {.name = "the next id; a standby until the leader promotes it",
		.nodes = {UP(1, "h1", 0), UP(2, "h2", 0), UP(3, "h3", 0)},
		.node_counter = 3,
		.cmd = JOIN(0, "h4"),
		.ops = {XNODE(4, "h4", NODE_STATE_UP, ROLE_STANDBY, 0), XCOUNTER("node", 4)}},
	 .id = 4,
	 .role = "standby"},
	{.fx = {.name = "voters that left do not count; their names are free again",
		.nodes = {UP(1, "h1", 0),
			  UP(2, "h2", 0),
			  {3, "h3", NODE_STATE_LEFT, ROLE_VOTER, 0}},
		.node_counter = 3,
		.cmd = JOIN(0, "h3"),
		.ops = {XNODE(4, "h3", NODE_STATE_UP, ROLE_STANDBY, 0), XCOUNTER("node", 4)}},
	 .id = 4,
	 .role = "standby"},
	{.fx = {.name = "adopts the processes waiting for a live node",
		.nodes = {{1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 0}},
		.procs = {{.pid = 7,
			   .node = 0,
			   .restart = RESTART_ALWAYS,
			   .restarts = 1,
			   .attempt = 2},
			  {.pid = 8, .node = 1, .state = PROC_STATE_EXITED, .attempt = 1}},
		.node_counter = 1,
		.cmd = JOIN(0, "h2"),
		.ops = {XPROC(.pid = 7, .node = 2, .restart = RESTART_ALWAYS, .restarts = 1,
			      .attempt = 2),
			XNODE(2, "h2", NODE_STATE_UP, ROLE_STANDBY, 1), XCOUNTER("node", 2)},
		.effects = {{2, EFFECT_START, 7, 2, 0}}},
	 .id = 2,
	 .role = "standby"},
	{.fx = {.name = "a name in use",
		.nodes = {UP(1, "h1", 0), {2, "h2", NODE_STATE_DOWN, ROLE_VOTER, 0}},
		.node_counter = 2,
		.cmd = JOIN(0, "h2"),
		.code = ERR_EXISTS}},
	{.fx = {.name = "an id in use, even by a node that left",
		.nodes = {{1, "h1", NODE_STATE_LEFT, ROLE_VOTER, 0}},
		.node_counter = 1,
		.cmd = JOIN(1, "h9"),
		.code = ERR_EXISTS}},
};

START_TEST(test_nodes_join)
{
	for (size_t i = 0; i < sizeof joins / sizeof joins[0]; i++) {
		const struct join_case *t = &joins[i];
		struct memview m;
		struct outcome o;
		struct unpacker u;
		const char *s;
		size_t n;

		memview_init(&m, 100);
		fx_setup(&m, &t->fx);
		outcome_init(&o);
		struct cmd c = t->fx.cmd;
		c.version = CMD_VERSION;
		c.time_ms = T;
		ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
		fx_check(&t->fx, &o);
		if (t->id != 0) {
			ck_assert_uint_eq(fx_result_uint(&o, "id"), t->id);
			ck_assert_int_eq(fx_result(&o, "role", &u), 0);
			ck_assert_int_eq(unpack_str(&u, &s, &n), 0);
			ck_assert_msg(n == strlen(t->role) && memcmp(s, t->role, n) == 0,
				      "%s: role %.*s", t->fx.name, (int)n, s);
		}
		outcome_release(&o);
		memview_release(&m);
	}
}
END_TEST

/* Down and remove */

static const struct fx_case down[] = {
	{.name = "processes lost; restarted by policy, any-node ones elsewhere",
	 .nodes = {UP(1, "h1", 3), UP(2, "h2", 0)},
	 .procs = {{.pid = 7,
		    .node = 1,
		    .restart = RESTART_ALWAYS,
		    .state = PROC_STATE_RUNNING,
		    .attempt = 1},
		   {.pid = 8,
		    .placement = PLACE_NODE,
		    .node = 1,
		    .restart = RESTART_ON_FAILURE,
		    .attempt = 1},
		   {.pid = 9, .node = 1, .state = PROC_STATE_RUNNING, .attempt = 1},
		   {.pid = 10, .node = 1, .state = PROC_STATE_EXITED, .attempt = 1},
		   {.pid = 11, .node = 2, .state = PROC_STATE_LOST, .attempt = 1}},
	 .cmd = NODE_CMD(CMD_NODE_DOWN, 1),
	 .ops = {XPROC(.pid = 7, .node = 2, .restart = RESTART_ALWAYS, .restarts = 1, .attempt = 2),
		 XPROC(.pid = 8, .placement = PLACE_NODE, .node = 1, .restart = RESTART_ON_FAILURE,
		       .restarts = 1, .attempt = 2),
		 XPROC(.pid = 9, .node = 1, .state = PROC_STATE_LOST, .attempt = 1, .ended_ms = T),
		 XNODE(1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 1),
		 XNODE(2, "h2", NODE_STATE_UP, ROLE_VOTER, 1)},
	 .effects = {{2, EFFECT_START, 7, 2, 0}, {1, EFFECT_START, 8, 2, 0}},
	 .state = "down"},
	{.name = "already down: nothing changes",
	 .nodes = {{1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 1}},
	 .procs = {{.pid = 8, .placement = PLACE_NODE, .node = 1, .attempt = 2}},
	 .cmd = NODE_CMD(CMD_NODE_DOWN, 1),
	 .state = "down"},
	{.name = "a node that left",
	 .nodes = {{1, "h1", NODE_STATE_LEFT, ROLE_VOTER, 0}},
	 .cmd = NODE_CMD(CMD_NODE_DOWN, 1),
	 .code = ERR_CONFLICT},
	{.name = "unknown node", .cmd = NODE_CMD(CMD_NODE_DOWN, 1), .code = ERR_NOTFOUND},
};

START_TEST(test_nodes_down)
{
	RUN_ALL(down);
}
END_TEST

static const struct fx_case removes[] = {
	{.name = "processes bound to it end lost; any-node ones move",
	 .nodes = {{1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 2}, UP(2, "h2", 0)},
	 .procs = {{.pid = 7,
		    .node = 1,
		    .restart = RESTART_ON_FAILURE,
		    .state = PROC_STATE_RUNNING,
		    .attempt = 1},
		   {.pid = 8,
		    .placement = PLACE_NODE,
		    .node = 1,
		    .restart = RESTART_ALWAYS,
		    .attempt = 3,
		    .restarts = 2}},
	 .cmd = NODE_CMD(CMD_NODE_REMOVE, 1),
	 .ops = {XPROC(.pid = 7, .node = 2, .restart = RESTART_ON_FAILURE, .restarts = 1,
		       .attempt = 2),
		 XPROC(.pid = 8, .placement = PLACE_NODE, .node = 1, .restart = RESTART_ALWAYS,
		       .restarts = 2, .state = PROC_STATE_LOST, .attempt = 3, .ended_ms = T),
		 XNODE(1, "h1", NODE_STATE_LEFT, ROLE_VOTER, 0),
		 XNODE(2, "h2", NODE_STATE_UP, ROLE_VOTER, 1)},
	 .effects = {{2, EFFECT_START, 7, 2, 0}},
	 .state = "left"},
	{.name = "already left: nothing changes",
	 .nodes = {{1, "h1", NODE_STATE_LEFT, ROLE_VOTER, 0}},
	 .cmd = NODE_CMD(CMD_NODE_REMOVE, 1),
	 .state = "left"},
	{.name = "unknown node", .cmd = NODE_CMD(CMD_NODE_REMOVE, 4), .code = ERR_NOTFOUND},
};

START_TEST(test_nodes_remove)
{
	RUN_ALL(removes);
}
END_TEST

/* Drain */

static const struct fx_case drains[] = {
	{.name = "restartable any-node processes move; the others stay",
	 .nodes = {UP(1, "h1", 3), UP(2, "h2", 5), UP(3, "h3", 1)},
	 .procs = {{.pid = 7,
		    .node = 1,
		    .restart = RESTART_ON_FAILURE,
		    .state = PROC_STATE_RUNNING,
		    .attempt = 1,
		    .os_pid = 99,
		    .started_ms = 50},
		   {.pid = 8, .node = 1, .state = PROC_STATE_RUNNING, .attempt = 1},
		   {.pid = 9,
		    .placement = PLACE_NODE,
		    .node = 1,
		    .restart = RESTART_ALWAYS,
		    .state = PROC_STATE_RUNNING,
		    .attempt = 1}},
	 .cmd = NODE_CMD(CMD_NODE_DRAIN, 1),
	 .ops = {XPROC(.pid = 7, .node = 3, .restart = RESTART_ON_FAILURE, .attempt = 2),
		 XNODE(1, "h1", NODE_STATE_DRAINING, ROLE_VOTER, 2),
		 XNODE(3, "h3", NODE_STATE_UP, ROLE_VOTER, 2)},
	 .effects = {{1, EFFECT_SIGNAL, 7, 1, 15}, {3, EFFECT_START, 7, 2, 0}},
	 .state = "draining"},
	{.name = "no other live node: they stay for now",
	 .nodes = {UP(1, "h1", 1), {2, "h2", NODE_STATE_DOWN, ROLE_VOTER, 0}},
	 .procs = {{.pid = 7,
		    .node = 1,
		    .restart = RESTART_ALWAYS,
		    .state = PROC_STATE_RUNNING,
		    .attempt = 1}},
	 .cmd = NODE_CMD(CMD_NODE_DRAIN, 1),
	 .ops = {XNODE(1, "h1", NODE_STATE_DRAINING, ROLE_VOTER, 1)},
	 .state = "draining"},
	{.name = "a node that left",
	 .nodes = {{1, "h1", NODE_STATE_LEFT, ROLE_VOTER, 0}},
	 .cmd = NODE_CMD(CMD_NODE_DRAIN, 1),
	 .code = ERR_CONFLICT},
	{.name = "unknown node", .cmd = NODE_CMD(CMD_NODE_DRAIN, 1), .code = ERR_NOTFOUND},
};

START_TEST(test_nodes_drain)
{
	RUN_ALL(drains);
}
END_TEST

/* Up */

static const struct fx_case ups[] = {
	{.name = "down to up; adopts waiting processes, hints those bound to it",
	 .nodes = {{1, "h1", NODE_STATE_DOWN, ROLE_VOTER, 1}},
	 .procs = {{.pid = 7, .node = 0, .restart = RESTART_ALWAYS, .restarts = 1, .attempt = 2},
		   {.pid = 8,
		    .placement = PLACE_NODE,
		    .node = 1,
		    .restart = RESTART_ALWAYS,
		    .restarts = 1,
		    .attempt = 2}},
	 .cmd = NODE_CMD(CMD_NODE_UP, 1),
	 .ops = {XPROC(.pid = 7, .node = 1, .restart = RESTART_ALWAYS, .restarts = 1, .attempt = 2),
		 XNODE(1, "h1", NODE_STATE_UP, ROLE_VOTER, 2)},
	 .effects = {{1, EFFECT_START, 7, 2, 0}, {1, EFFECT_START, 8, 2, 0}},
	 .state = "up"},
	{.name = "draining stays draining",
	 .nodes = {{1, "h1", NODE_STATE_DRAINING, ROLE_VOTER, 0}},
	 .cmd = NODE_CMD(CMD_NODE_UP, 1),
	 .state = "draining"},
	{.name = "left stays left",
	 .nodes = {{1, "h1", NODE_STATE_LEFT, ROLE_VOTER, 0}},
	 .cmd = NODE_CMD(CMD_NODE_UP, 1),
	 .state = "left"},
	{.name = "unknown node", .cmd = NODE_CMD(CMD_NODE_UP, 1), .code = ERR_NOTFOUND},
};

START_TEST(test_nodes_up)
{
	RUN_ALL(ups);
}
END_TEST

/* Role */

#define ROLE(id, r)                                           \
	{                                                     \
		.type = CMD_NODE_ROLE, .u.role = {(id), (r) } \
	}

static const struct fx_case roles[] = {
	{.name = "standby to voter",
	 .nodes = {UP(1, "h1", 0), {2, "h2", NODE_STATE_UP, ROLE_STANDBY, 4}},
	 .cmd = ROLE(2, ROLE_VOTER),
	 .ops = {XNODE(2, "h2", NODE_STATE_UP, ROLE_VOTER, 4)}},
	{.name = "the same role: nothing changes",
	 .nodes = {UP(1, "h1", 0)},
	 .cmd = ROLE(1, ROLE_VOTER)},
	{.name = "an unknown role",
	 .nodes = {UP(1, "h1", 0)},
	 .cmd = ROLE(1, 7),
	 .code = ERR_INVALID},
	{.name = "a node that left",
	 .nodes = {{1, "h1", NODE_STATE_LEFT, ROLE_VOTER, 0}},
	 .cmd = ROLE(1, ROLE_SPARE),
	 .code = ERR_CONFLICT},
	{.name = "unknown node", .cmd = ROLE(1, ROLE_SPARE), .code = ERR_NOTFOUND},
};

START_TEST(test_nodes_role)
{
	RUN_ALL(roles);
}
END_TEST

/* Rows */

START_TEST(test_nodes_row_strict)
{
	struct node_row r = {3,          NAME("h3"),          NAME("a:1"), NAME("a:2"),
			     ROLE_SPARE, NODE_STATE_DRAINING, 77,          5};
	struct node_row d;
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(node_row_encode(&r, &b), 0);
	ck_assert_int_eq(node_row_decode(b.data, b.len, &d), 0);
	ck_assert_uint_eq(d.id, 3);
	ck_assert_int_eq(d.role, ROLE_SPARE);
	ck_assert_int_eq(d.state, NODE_STATE_DRAINING);
	ck_assert_uint_eq(d.joined_ms, 77);
	ck_assert_uint_eq(d.load, 5);
	ck_assert(d.name.n == 2 && memcmp(d.name.p, "h3", 2) == 0);
	for (size_t n = 0; n < b.len; n++)
		ck_assert_int_eq(node_row_decode(b.data, n, &d), ERR_CORRUPT);
	b.data[0]++; /* fixarray: one more field, from a later version */
	buf_put_u8(&b, 0x01);
	ck_assert_int_eq(node_row_decode(b.data, b.len, &d), 0);
	buf_put_u8(&b, 0x01); /* trailing bytes */
	ck_assert_int_eq(node_row_decode(b.data, b.len, &d), ERR_CORRUPT);
	ck_assert_int_eq(node_row_decode("\x98\x01\xa1x\xa0\xa0\x09\x00\x00\x00", 10, &d),
			 ERR_CORRUPT); /* role 9 */
	buf_release(&b);
}
END_TEST

Suite *nodes_suite(void)
{
	Suite *s = suite_create("nodes");
	TCase *tc = tcase_create("transitions");

	tcase_add_test(tc, test_nodes_join);
	tcase_add_test(tc, test_nodes_down);
	tcase_add_test(tc, test_nodes_remove);
	tcase_add_test(tc, test_nodes_drain);
	tcase_add_test(tc, test_nodes_up);
	tcase_add_test(tc, test_nodes_role);
	tcase_add_test(tc, test_nodes_row_strict);
	suite_add_tcase(s, tc);
	return s;
}
