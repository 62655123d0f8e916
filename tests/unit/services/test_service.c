/*
 * Tests of the dispatch in services/service.c: an unknown type is rejected;
 * an idempotency key makes a retried command return its original result with
 * an empty delta, rejects the key's reuse for another request, and is not
 * recorded by a rejected command; the history service validates rewind and
 * compact against the readable range; noop writes nothing.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "common/error.h"
#include "common/pack.h"
#include "services/service.h"
#include "tests/unit/services/memview.h"
#include "tests/unit/services/suites.h"

#define INDEX  100
#define OLDEST 10
#define TIME   1700000000000ull

static struct cmd base_cmd(uint32_t type)
{
	struct cmd c;

	memset(&c, 0, sizeof c);
	c.version = CMD_VERSION;
	c.type = type;
	c.time_ms = TIME;
	c.origin = 1;
	return c;
}

/* A msg.send with an idempotency key; the body stands for the encoded body,
 * whose hash tells a retry from a reuse of the key. */
static struct cmd send_cmd(const char *key, const char *data)
{
	struct cmd c = base_cmd(CMD_MSG_SEND);

	c.key = memview_str(key);
	c.body.p = (const uint8_t *)data;
	c.body.n = strlen(data);
	c.u.send.queue = memview_str("jobs");
	c.u.send.data = c.body;
	return c;
}

static struct cmd history_cmd(uint32_t type, uint64_t target)
{
	struct cmd c = base_cmd(type);

	c.u.history.target = target;
	return c;
}

/* The result map {name: value} of one unsigned field. */
static void check_uint_result(const struct outcome *o, const char *name, uint64_t value)
{
	struct unpacker u;
	const char *k;
	size_t klen;
	uint64_t v;
	uint32_t n;

	unpacker_init(&u, o->result.data, o->result.len);
	ck_assert_int_eq(unpack_map(&u, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(unpack_str(&u, &k, &klen), 0);
	ck_assert_uint_eq(klen, strlen(name));
	ck_assert_mem_eq(k, name, klen);
	ck_assert_int_eq(unpack_uint(&u, &v), 0);
	ck_assert_uint_eq(v, value);
	ck_assert_uint_eq(unpack_left(&u), 0);
}

static void check_empty(const struct outcome *o)
{
	ck_assert_uint_eq(o->delta.count, 0);
	ck_assert_uint_eq(o->delta.ops.len, 0);
	ck_assert_uint_eq(effects_count(&o->effects), 0);
}

START_TEST(test_service_unknown_type)
{
	static const uint32_t cases[] = {0, CMD_TYPE_COUNT, 1000, UINT32_MAX};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct memview m;
		struct outcome o;
		struct cmd c = base_cmd(cases[i]);
		char message[64];

		snprintf(message, sizeof message, "unknown command type %u", cases[i]);
		memview_init(&m, INDEX);
		outcome_init(&o);
		c.key = memview_str("k");
		ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
		ck_assert_int_eq(o.code, ERR_INVALID);
		ck_assert_str_eq(o.message, message);
		check_empty(&o);
		ck_assert_uint_eq(o.result.len, 0);
		ck_assert_uint_eq(m.n[TABLE_IDEM], 0);
		outcome_release(&o);
		memview_release(&m);
	}
}
END_TEST

START_TEST(test_service_idem_records_key)
{
	struct memview m;
	struct outcome o;
	struct delta_op op;
	struct cmd c = send_cmd("req-1", "hello");
	size_t pos = 0;

	memview_init(&m, INDEX);
	outcome_init(&o);
	ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
	ck_assert_int_eq(o.code, 0);
	check_uint_result(&o, "seq", 1);
	/* The service's writes, then the key: [type][key]. */
	ck_assert_uint_eq(o.delta.count, 3);
	ck_assert_int_eq(delta_next(&o.delta, &pos, &op), 0);
	ck_assert_int_eq(op.table, TABLE_MESSAGES);
	ck_assert_int_eq(delta_next(&o.delta, &pos, &op), 0);
	ck_assert_int_eq(op.table, TABLE_QUEUES);
	ck_assert_int_eq(delta_next(&o.delta, &pos, &op), 0);
	ck_assert_int_eq(op.kind, DELTA_PUT);
	ck_assert_int_eq(op.table, TABLE_IDEM);
	ck_assert_uint_eq(op.klen, 6);
	ck_assert_uint_eq(op.key[0], CMD_MSG_SEND);
	ck_assert_mem_eq(op.key + 1, "req-1", 5);
	ck_assert_int_eq(delta_next(&o.delta, &pos, &op), ERR_NOTFOUND);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

/* A retry returns the original result and changes nothing, also after other
 * commands moved the state on. */
START_TEST(test_service_idem_retry)
{
	struct memview m;
	struct outcome o;
	struct cmd c = send_cmd("req-1", "hello");
	struct cmd other = send_cmd(NULL, "other");

	memview_init(&m, INDEX);
	outcome_init(&o);
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	check_uint_result(&o, "seq", 1);
	ck_assert_int_eq(memview_run(&m, &other, &o), 0);
	check_uint_result(&o, "seq", 2);

	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	ck_assert_int_eq(o.code, 0);
	ck_assert_str_eq(o.message, "");
	check_uint_result(&o, "seq", 1);
	check_empty(&o);
	ck_assert_uint_eq(m.n[TABLE_MESSAGES], 2);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

START_TEST(test_service_idem_conflict)
{
	struct memview m;
	struct outcome o;
	struct cmd c = send_cmd("req-1", "hello");

	memview_init(&m, INDEX);
	outcome_init(&o);
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	c = send_cmd("req-1", "goodbye");
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	ck_assert_int_eq(o.code, ERR_CONFLICT);
	ck_assert_str_eq(o.message, "idempotency key 'req-1' was used for a different request at "
				    "index 100");
	check_empty(&o);
	ck_assert_uint_eq(o.result.len, 0);
	ck_assert_uint_eq(m.n[TABLE_MESSAGES], 1);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

/* Keys are per command type: the same key on another type is another
 * request. */
START_TEST(test_service_idem_per_type)
{
	struct memview m;
	struct outcome o;
	struct cmd c = send_cmd("k", "hello");

	memview_init(&m, INDEX);
	outcome_init(&o);
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	c.type = CMD_MSG_RECV;
	c.u.recv.queue = memview_str("jobs");
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	ck_assert_int_eq(o.code, 0);
	ck_assert_uint_eq(m.n[TABLE_MESSAGES], 0);
	ck_assert_uint_eq(m.n[TABLE_IDEM], 2);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

/* A rejected command leaves its key free: the retry, once it can succeed,
 * is applied. */
START_TEST(test_service_idem_rejected_not_recorded)
{
	struct memview m;
	struct outcome o;
	struct cmd recv = base_cmd(CMD_MSG_RECV);
	struct cmd send = send_cmd(NULL, "late");

	memview_init(&m, INDEX);
	outcome_init(&o);
	recv.key = memview_str("worker-1");
	recv.body.p = (const uint8_t *)"jobs";
	recv.body.n = 4;
	recv.u.recv.queue = memview_str("jobs");
	ck_assert_int_eq(memview_run(&m, &recv, &o), 0);
	ck_assert_int_eq(o.code, ERR_NOTFOUND);
	check_empty(&o);
	ck_assert_uint_eq(m.n[TABLE_IDEM], 0);

	ck_assert_int_eq(memview_run(&m, &send, &o), 0);
	ck_assert_int_eq(memview_run(&m, &recv, &o), 0);
	ck_assert_int_eq(o.code, 0);
	ck_assert_uint_eq(m.n[TABLE_MESSAGES], 0);
	ck_assert_uint_eq(m.n[TABLE_IDEM], 1);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

START_TEST(test_service_rewind)
{
	static const struct {
		uint64_t target;
		int code;
		const char *message;
	} cases[] = {
		{0, ERR_RANGE, "cannot rewind to index 0: the readable range is 10..99"},
		{OLDEST - 1, ERR_RANGE, "cannot rewind to index 9: the readable range is 10..99"},
		{INDEX, ERR_RANGE, "cannot rewind to index 100: the readable range is 10..99"},
		{INDEX + 1, ERR_RANGE, "cannot rewind to index 101: the readable range is 10..99"},
		{OLDEST, 0, ""},
		{50, 0, ""},
		{INDEX - 1, 0, ""},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct memview m;
		struct outcome o;
		struct delta_op op;
		struct cmd c = history_cmd(CMD_REWIND, cases[i].target);
		size_t pos = 0;

		memview_init(&m, INDEX);
		m.view.oldest = OLDEST;
		outcome_init(&o);
		ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
		ck_assert_int_eq(o.code, cases[i].code);
		ck_assert_str_eq(o.message, cases[i].message);
		if (cases[i].code != 0) {
			check_empty(&o);
			ck_assert_uint_eq(o.result.len, 0);
		} else {
			ck_assert_uint_eq(o.delta.count, 1);
			ck_assert_int_eq(delta_next(&o.delta, &pos, &op), 0);
			ck_assert_int_eq(op.kind, DELTA_REWIND);
			ck_assert_uint_eq(op.target, cases[i].target);
			ck_assert_int_eq(delta_next(&o.delta, &pos, &op), ERR_NOTFOUND);
			check_uint_result(&o, "target", cases[i].target);
		}
		outcome_release(&o);
		memview_release(&m);
	}
}
END_TEST

START_TEST(test_service_compact)
{
	static const struct {
		uint64_t target;
		int code;
		const char *message;
		uint64_t oldest; /* the compaction target in the delta */
	} cases[] = {
		{INDEX, ERR_RANGE, "cannot compact to index 100: not below the current index 100",
		 0},
		{150, ERR_RANGE, "cannot compact to index 150: not below the current index 100", 0},
		{50, 0, "", 50},
		{INDEX - 1, 0, "", INDEX - 1},
		{OLDEST, 0, "", OLDEST},
		/* Already compacted further: stays at the oldest. */
		{OLDEST - 5, 0, "", OLDEST},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct memview m;
		struct outcome o;
		struct delta_op op;
		struct cmd c = history_cmd(CMD_COMPACT, cases[i].target);
		size_t pos = 0;

		memview_init(&m, INDEX);
		m.view.oldest = OLDEST;
		outcome_init(&o);
		ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
		ck_assert_int_eq(o.code, cases[i].code);
		ck_assert_str_eq(o.message, cases[i].message);
		if (cases[i].code != 0) {
			check_empty(&o);
			ck_assert_uint_eq(o.result.len, 0);
		} else {
			ck_assert_uint_eq(o.delta.count, 1);
			ck_assert_int_eq(delta_next(&o.delta, &pos, &op), 0);
			ck_assert_int_eq(op.kind, DELTA_COMPACT);
			ck_assert_uint_eq(op.target, cases[i].oldest);
			ck_assert_int_eq(delta_next(&o.delta, &pos, &op), ERR_NOTFOUND);
			check_uint_result(&o, "oldest", cases[i].oldest);
		}
		outcome_release(&o);
		memview_release(&m);
	}
}
END_TEST

START_TEST(test_service_noop)
{
	struct memview m;
	struct outcome o;
	struct cmd c = base_cmd(CMD_NOOP);

	memview_init(&m, INDEX);
	outcome_init(&o);
	ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
	ck_assert_int_eq(o.code, 0);
	ck_assert_str_eq(o.message, "");
	check_empty(&o);
	ck_assert_uint_eq(o.result.len, 0);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

static int failing_get(const struct view *v, int table, const void *key, size_t klen,
		       const void **val, size_t *vlen)
{
	return ERR_IO;
}

/* An environmental error of the view is returned as is, never turned into a
 * rejection (DESIGN §2: only environmental failure may fail an apply). */
START_TEST(test_service_view_error)
{
	static const uint32_t types[] = {CMD_MSG_SEND, CMD_MSG_RECV, CMD_FILE_PUT, CMD_FILE_DEL,
					 CMD_STEP_RECORD};

	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		struct memview m;
		struct outcome o;
		struct cmd c = base_cmd(types[i]);

		memview_init(&m, INDEX);
		m.view.get = failing_get;
		outcome_init(&o);
		switch (types[i]) {
		case CMD_MSG_SEND:
			c.u.send.queue = memview_str("jobs");
			break;
		case CMD_MSG_RECV:
			c.u.recv.queue = memview_str("jobs");
			break;
		case CMD_FILE_PUT:
			c.u.put.path = memview_str("/a");
			c.u.put.if_version = -1;
			break;
		case CMD_FILE_DEL:
			c.u.del.path = memview_str("/a");
			c.u.del.if_version = -1;
			break;
		case CMD_STEP_RECORD:
			c.u.step.pid = 1;
			c.u.step.name = memview_str("s");
			break;
		}
		ck_assert_int_eq(service_apply(&m.view, &c, &o), ERR_IO);
		/* With a key, the idempotency lookup meets the error first. */
		c.key = memview_str("k");
		ck_assert_int_eq(service_apply(&m.view, &c, &o), ERR_IO);
		outcome_release(&o);
		memview_release(&m);
	}
}
END_TEST

Suite *service_suite(void)
{
	Suite *s = suite_create("service");
	TCase *tc = tcase_create("dispatch");

	tcase_add_test(tc, test_service_unknown_type);
	tcase_add_test(tc, test_service_noop);
	tcase_add_test(tc, test_service_view_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("idempotency");
	tcase_add_test(tc, test_service_idem_records_key);
	tcase_add_test(tc, test_service_idem_retry);
	tcase_add_test(tc, test_service_idem_conflict);
	tcase_add_test(tc, test_service_idem_per_type);
	tcase_add_test(tc, test_service_idem_rejected_not_recorded);
	suite_add_tcase(s, tc);

	tc = tcase_create("history");
	tcase_add_test(tc, test_service_rewind);
	tcase_add_test(tc, test_service_compact);
	suite_add_tcase(s, tc);
	return s;
}
