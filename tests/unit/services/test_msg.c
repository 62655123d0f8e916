/*
 * Tests of the message-queue service (services/msg.h): msg.send assigns
 * sequence numbers from 1 and creates the queue on first use, within the
 * per-queue limits; msg.recv dequeues the oldest message atomically, keeps
 * the emptied queue, rejects an empty or unknown queue, and with an
 * idempotency key delivers a message exactly once; the rows decode strictly.
 * Each case gives initial rows and a command and checks the exact delta and
 * result.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "common/error.h"
#include "common/pack.h"
#include "services/msg.h"
#include "services/service.h"
#include "tests/unit/services/memview.h"
#include "tests/unit/services/suites.h"

#define INDEX  100
#define TIME   1700000000000ull
#define ORIGIN 3

static struct cmd send_cmd(const char *queue, const char *data)
{
	struct cmd c;

	memset(&c, 0, sizeof c);
	c.version = CMD_VERSION;
	c.type = CMD_MSG_SEND;
	c.time_ms = TIME;
	c.origin = ORIGIN;
	c.u.send.queue = memview_str(queue);
	c.u.send.data.p = (const uint8_t *)data;
	c.u.send.data.n = strlen(data);
	return c;
}

/* `key` NULL: no idempotency key. The body stands for the encoded body, whose
 * hash tells a retry from a reuse of the key. */
static struct cmd recv_cmd(const char *queue, const char *key)
{
	struct cmd c;

	memset(&c, 0, sizeof c);
	c.version = CMD_VERSION;
	c.type = CMD_MSG_RECV;
	c.time_ms = TIME;
	c.origin = ORIGIN;
	c.key = memview_str(key);
	c.body.p = (const uint8_t *)queue;
	c.body.n = strlen(queue);
	c.u.recv.queue = memview_str(queue);
	return c;
}

static void set_queue(struct memview *m, const char *name, struct queue_row q)
{
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(queue_row_encode(&q, &b), 0);
	memview_set(m, TABLE_QUEUES, name, strlen(name), b.data, b.len);
	buf_release(&b);
}

static void set_message(struct memview *m, const char *name, uint64_t seq, const char *data)
{
	struct message_row r = {TIME - 1, 1, {(const uint8_t *)data, strlen(data)}};
	uint8_t key[MESSAGE_KEY_MAX];
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(message_row_encode(&r, &b), 0);
	memview_set(m, TABLE_MESSAGES, key, message_key(key, name, strlen(name), seq), b.data,
		    b.len);
	buf_release(&b);
}

static void next_op(const struct outcome *o, size_t *pos, struct delta_op *op)
{
	ck_assert_int_eq(delta_next(&o->delta, pos, op), 0);
}

static void check_queue_put(const struct delta_op *op, const char *name, struct queue_row want)
{
	struct queue_row q;

	ck_assert_int_eq(op->kind, DELTA_PUT);
	ck_assert_int_eq(op->table, TABLE_QUEUES);
	ck_assert_uint_eq(op->klen, strlen(name));
	ck_assert_mem_eq(op->key, name, op->klen);
	ck_assert_int_eq(queue_row_decode(op->val, op->vlen, &q), 0);
	ck_assert_uint_eq(q.head_seq, want.head_seq);
	ck_assert_uint_eq(q.next_seq, want.next_seq);
	ck_assert_uint_eq(q.count, want.count);
	ck_assert_uint_eq(q.bytes, want.bytes);
}

static void check_message_key(const struct delta_op *op, const char *name, uint64_t seq)
{
	struct strref qname;
	uint64_t kseq;

	ck_assert_int_eq(op->table, TABLE_MESSAGES);
	ck_assert_int_eq(message_key_decode(op->key, op->klen, &qname, &kseq), 0);
	ck_assert_uint_eq(qname.n, strlen(name));
	ck_assert_mem_eq(qname.p, name, qname.n);
	ck_assert_uint_eq(kseq, seq);
}

static void check_message_put(const struct delta_op *op, const char *name, uint64_t seq,
			      const char *data)
{
	struct message_row r;

	ck_assert_int_eq(op->kind, DELTA_PUT);
	check_message_key(op, name, seq);
	ck_assert_int_eq(message_row_decode(op->val, op->vlen, &r), 0);
	ck_assert_uint_eq(r.sent_ms, TIME);
	ck_assert_uint_eq(r.origin, ORIGIN);
	ck_assert_uint_eq(r.data.n, strlen(data));
	ck_assert_mem_eq(r.data.p, data, r.data.n);
}

static void check_message_del(const struct delta_op *op, const char *name, uint64_t seq)
{
	ck_assert_int_eq(op->kind, DELTA_DEL);
	check_message_key(op, name, seq);
}

/* The result map of an accepted send or recv: its seq and, for recv, data
 * (`data` NULL: must have no data field). */
static void check_result(const struct outcome *o, uint64_t seq, const char *data)
{
	struct unpacker u;
	const char *k;
	const void *d;
	size_t klen, dlen;
	uint64_t s;
	uint32_t n;

	ck_assert_int_eq(o->code, 0);
	unpacker_init(&u, o->result.data, o->result.len);
	ck_assert_int_eq(unpack_map(&u, &n), 0);
	ck_assert_uint_eq(n, data != NULL ? 2 : 1);
	ck_assert_int_eq(unpack_str(&u, &k, &klen), 0);
	ck_assert_uint_eq(klen, 3);
	ck_assert_mem_eq(k, "seq", 3);
	ck_assert_int_eq(unpack_uint(&u, &s), 0);
	ck_assert_uint_eq(s, seq);
	if (data != NULL) {
		ck_assert_int_eq(unpack_str(&u, &k, &klen), 0);
		ck_assert_uint_eq(klen, 4);
		ck_assert_mem_eq(k, "data", 4);
		ck_assert_int_eq(unpack_bin(&u, &d, &dlen), 0);
		ck_assert_uint_eq(dlen, strlen(data));
		ck_assert_mem_eq(d, data, dlen);
	}
	ck_assert_uint_eq(unpack_left(&u), 0);
}

static void check_rejected(const struct outcome *o, int code, const char *message)
{
	ck_assert_int_eq(o->code, code);
	ck_assert_str_eq(o->message, message);
	ck_assert_uint_eq(o->delta.count, 0);
	ck_assert_uint_eq(o->result.len, 0);
	ck_assert_uint_eq(effects_count(&o->effects), 0);
}

START_TEST(test_msg_send)
{
	static const struct {
		bool exists;
		struct queue_row before;
		const char *data;
		uint64_t seq;
		struct queue_row after;
	} cases[] = {
		/* The first send creates the queue, numbering from 1. */
		{false, {0, 0, 0, 0}, "hello", 1, {1, 2, 1, 5}},
		{true, {5, 8, 3, 30}, "abc", 8, {5, 9, 4, 33}},
		/* An emptied queue goes on numbering. */
		{true, {4, 4, 0, 0}, "x", 4, {4, 5, 1, 1}},
		{true, {4, 4, 0, 0}, "", 4, {4, 5, 1, 0}},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct memview m;
		struct outcome o;
		struct delta_op op;
		struct cmd c = send_cmd("jobs", cases[i].data);
		size_t pos = 0;

		memview_init(&m, INDEX);
		outcome_init(&o);
		if (cases[i].exists)
			set_queue(&m, "jobs", cases[i].before);
		ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
		check_result(&o, cases[i].seq, NULL);
		ck_assert_uint_eq(o.delta.count, 2);
		next_op(&o, &pos, &op);
		check_message_put(&op, "jobs", cases[i].seq, cases[i].data);
		next_op(&o, &pos, &op);
		check_queue_put(&op, "jobs", cases[i].after);
		ck_assert_int_eq(delta_next(&o.delta, &pos, &op), ERR_NOTFOUND);
		ck_assert_uint_eq(effects_count(&o.effects), 0);
		outcome_release(&o);
		memview_release(&m);
	}
}
END_TEST

START_TEST(test_msg_send_full)
{
	static const struct {
		struct queue_row before;
		const char *data;
		int code;
		const char *message;
	} cases[] = {
		{{1, 100000, 99999, 10}, "a", 0, ""},
		{{1, 100001, 100000, 10}, "a", ERR_FULL, "queue 'jobs' is full (100000 messages)"},
		{{1, 3, 2, QUEUE_BYTES_MAX - 3}, "abc", 0, ""},
		{{1, 3, 2, QUEUE_BYTES_MAX - 3},
		 "abcd",
		 ERR_FULL,
		 "queue 'jobs' is full (268435453 of 268435456 bytes used, the message has 4)"},
		{{1, 3, 2, QUEUE_BYTES_MAX}, "", 0, ""},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct memview m;
		struct outcome o;
		struct cmd c = send_cmd("jobs", cases[i].data);

		memview_init(&m, INDEX);
		outcome_init(&o);
		set_queue(&m, "jobs", cases[i].before);
		ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
		if (cases[i].code != 0) {
			check_rejected(&o, cases[i].code, cases[i].message);
		} else {
			check_result(&o, cases[i].before.next_seq, NULL);
			ck_assert_uint_eq(o.delta.count, 2);
		}
		outcome_release(&o);
		memview_release(&m);
	}
}
END_TEST

START_TEST(test_msg_recv)
{
	struct memview m;
	struct outcome o;
	struct delta_op op;
	struct cmd c = recv_cmd("jobs", NULL);
	size_t pos = 0;

	memview_init(&m, INDEX);
	outcome_init(&o);
	set_queue(&m, "jobs", (struct queue_row){7, 9, 2, 9});
	set_message(&m, "jobs", 7, "first");
	set_message(&m, "jobs", 8, "next");
	ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
	check_result(&o, 7, "first");
	ck_assert_uint_eq(o.delta.count, 2);
	next_op(&o, &pos, &op);
	check_message_del(&op, "jobs", 7);
	next_op(&o, &pos, &op);
	check_queue_put(&op, "jobs", (struct queue_row){8, 9, 1, 4});
	ck_assert_int_eq(delta_next(&o.delta, &pos, &op), ERR_NOTFOUND);
	ck_assert_uint_eq(effects_count(&o.effects), 0);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

START_TEST(test_msg_recv_last_keeps_queue)
{
	struct memview m;
	struct outcome o;
	struct delta_op op;
	struct cmd c = recv_cmd("jobs", NULL);
	size_t pos = 0;

	memview_init(&m, INDEX);
	outcome_init(&o);
	set_queue(&m, "jobs", (struct queue_row){3, 4, 1, 2});
	set_message(&m, "jobs", 3, "hi");
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	check_result(&o, 3, "hi");
	next_op(&o, &pos, &op);
	check_message_del(&op, "jobs", 3);
	next_op(&o, &pos, &op);
	check_queue_put(&op, "jobs", (struct queue_row){4, 4, 0, 0});
	ck_assert_int_eq(delta_next(&o.delta, &pos, &op), ERR_NOTFOUND);
	ck_assert_ptr_nonnull(memview_find(&m, TABLE_QUEUES, "jobs", 4));
	ck_assert_uint_eq(m.n[TABLE_MESSAGES], 0);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

START_TEST(test_msg_recv_empty)
{
	static const struct {
		bool exists;
		struct queue_row q;
		const char *other; /* a message in another queue, or NULL */
	} cases[] = {
		{false, {0, 0, 0, 0}, NULL},
		{true, {4, 4, 0, 0}, NULL},
		/* "job" is a prefix of "jobs", but its own queue. */
		{false, {0, 0, 0, 0}, "jobs"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct memview m;
		struct outcome o;
		struct cmd c = recv_cmd("job", NULL);

		memview_init(&m, INDEX);
		outcome_init(&o);
		if (cases[i].exists)
			set_queue(&m, "job", cases[i].q);
		if (cases[i].other != NULL) {
			set_queue(&m, cases[i].other, (struct queue_row){1, 2, 1, 1});
			set_message(&m, cases[i].other, 1, "x");
		}
		ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
		check_rejected(&o, ERR_NOTFOUND, "queue 'job' is empty");
		outcome_release(&o);
		memview_release(&m);
	}
}
END_TEST

/* Messages sent to two queues, interleaved, come out of each in order. */
START_TEST(test_msg_fifo)
{
	static const char *const queues[] = {"jobs", "jobs.low"};
	struct memview m;
	struct outcome o;
	char data[32];

	memview_init(&m, INDEX);
	outcome_init(&o);
	for (uint64_t i = 1; i <= 50; i++) {
		for (size_t q = 0; q < 2; q++) {
			struct cmd c;

			snprintf(data, sizeof data, "%s-%llu", queues[q], (unsigned long long)i);
			c = send_cmd(queues[q], data);
			ck_assert_int_eq(memview_run(&m, &c, &o), 0);
			check_result(&o, i, NULL);
		}
	}
	for (uint64_t i = 1; i <= 50; i++) {
		for (size_t q = 0; q < 2; q++) {
			struct cmd c = recv_cmd(queues[q], NULL);

			snprintf(data, sizeof data, "%s-%llu", queues[q], (unsigned long long)i);
			ck_assert_int_eq(memview_run(&m, &c, &o), 0);
			check_result(&o, i, data);
		}
	}
	for (size_t q = 0; q < 2; q++) {
		struct cmd c = recv_cmd(queues[q], NULL);

		ck_assert_int_eq(memview_run(&m, &c, &o), 0);
		ck_assert_int_eq(o.code, ERR_NOTFOUND);
	}
	ck_assert_uint_eq(m.n[TABLE_MESSAGES], 0);
	ck_assert_uint_eq(m.n[TABLE_QUEUES], 2);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

/* A recv retried with its idempotency key returns the same message and
 * dequeues nothing more: exactly-once delivery (DESIGN §5). */
START_TEST(test_msg_recv_key_exactly_once)
{
	struct memview m;
	struct outcome o;
	struct cmd c;

	memview_init(&m, INDEX);
	outcome_init(&o);
	c = send_cmd("jobs", "a");
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	c = send_cmd("jobs", "b");
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);

	c = recv_cmd("jobs", "worker-1/1");
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	check_result(&o, 1, "a");
	ck_assert_uint_eq(m.n[TABLE_MESSAGES], 1);

	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	check_result(&o, 1, "a");
	ck_assert_uint_eq(o.delta.count, 0);
	ck_assert_uint_eq(m.n[TABLE_MESSAGES], 1);

	c = recv_cmd("jobs", "worker-1/2");
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	check_result(&o, 2, "b");
	ck_assert_uint_eq(m.n[TABLE_MESSAGES], 0);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

/* A queue row promising a message that is not there is a corrupt state: an
 * environmental error, not a rejection. */
START_TEST(test_msg_recv_missing_head_is_corrupt)
{
	struct memview m;
	struct outcome o;
	struct cmd c = recv_cmd("jobs", NULL);

	memview_init(&m, INDEX);
	outcome_init(&o);
	set_queue(&m, "jobs", (struct queue_row){2, 3, 1, 1});
	set_message(&m, "jobs", 1, "x");
	ck_assert_int_eq(service_apply(&m.view, &c, &o), ERR_CORRUPT);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

START_TEST(test_msg_corrupt_queue_row)
{
	static const uint8_t bad[] = {0x93, 0x01, 0x02, 0x03}; /* 3 fields of 4 */
	struct memview m;
	struct outcome o;
	struct cmd c = send_cmd("jobs", "x");

	memview_init(&m, INDEX);
	outcome_init(&o);
	memview_set(&m, TABLE_QUEUES, "jobs", 4, bad, sizeof bad);
	ck_assert_int_eq(service_apply(&m.view, &c, &o), ERR_CORRUPT);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

START_TEST(test_msg_rows_decode)
{
	static const struct {
		const char *what;
		const uint8_t *val;
		size_t len;
		int queue_rv;   /* queue_row_decode */
		int message_rv; /* message_row_decode */
	} cases[] = {
		{"empty", (const uint8_t *)"", 0, ERR_CORRUPT, ERR_CORRUPT},
		{"not an array", (const uint8_t *)"\x01", 1, ERR_CORRUPT, ERR_CORRUPT},
		{"queue row", (const uint8_t *)"\x94\x01\x02\x01\x05", 5, 0, ERR_CORRUPT},
		{"queue row, extra field", (const uint8_t *)"\x95\x01\x02\x01\x05\xc0", 6, 0,
		 ERR_CORRUPT},
		{"head after next", (const uint8_t *)"\x94\x03\x02\x00\x00", 5, ERR_CORRUPT,
		 ERR_CORRUPT},
		{"negative field", (const uint8_t *)"\x94\xff\x02\x01\x05", 5, ERR_CORRUPT,
		 ERR_CORRUPT},
		{"truncated", (const uint8_t *)"\x94\x01\x02\x01", 4, ERR_CORRUPT, ERR_CORRUPT},
		{"message row", (const uint8_t *)"\x93\x01\x02\xc4\x01x", 6, ERR_CORRUPT, 0},
		{"message row, extra field", (const uint8_t *)"\x94\x01\x02\xc4\x01x\x07", 7,
		 ERR_CORRUPT, 0},
		{"message data as str", (const uint8_t *)"\x93\x01\x02\xa1x", 5, ERR_CORRUPT,
		 ERR_CORRUPT},
		{"message data truncated", (const uint8_t *)"\x93\x01\x02\xc4\x05x", 6, ERR_CORRUPT,
		 ERR_CORRUPT},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct queue_row q;
		struct message_row r;

		ck_assert_msg(queue_row_decode(cases[i].val, cases[i].len, &q) == cases[i].queue_rv,
			      "queue row: %s", cases[i].what);
		ck_assert_msg(message_row_decode(cases[i].val, cases[i].len, &r) ==
				      cases[i].message_rv,
			      "message row: %s", cases[i].what);
	}
}
END_TEST

START_TEST(test_msg_key_decode)
{
	uint8_t key[MESSAGE_KEY_MAX];
	struct strref name;
	uint64_t seq;
	size_t klen = message_key(key, "jobs", 4, 0x0102030405060708ull);

	ck_assert_uint_eq(klen, 13);
	ck_assert_mem_eq(key, "\x04jobs\x01\x02\x03\x04\x05\x06\x07\x08", 13);
	ck_assert_int_eq(message_key_decode(key, klen, &name, &seq), 0);
	ck_assert_uint_eq(name.n, 4);
	ck_assert_mem_eq(name.p, "jobs", 4);
	ck_assert_uint_eq(seq, 0x0102030405060708ull);
	ck_assert_int_eq(message_key_decode(key, klen - 1, &name, &seq), ERR_CORRUPT);
	ck_assert_int_eq(message_key_decode("\x00\x00\x00\x00\x00\x00\x00\x00\x01", 9, &name, &seq),
			 ERR_CORRUPT);
}
END_TEST

START_TEST(test_msg_invalid_name)
{
	static const char long_name[CMD_QUEUE_MAX + 2] =
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	const char *const names[] = {"", long_name};

	ck_assert_uint_eq(strlen(long_name), CMD_QUEUE_MAX + 1);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct memview m;
		struct outcome o;
		struct cmd send = send_cmd(names[i], "x");
		struct cmd recv = recv_cmd(names[i], NULL);

		memview_init(&m, INDEX);
		outcome_init(&o);
		ck_assert_int_eq(service_apply(&m.view, &send, &o), 0);
		ck_assert_int_eq(o.code, ERR_INVALID);
		ck_assert_uint_eq(o.delta.count, 0);
		ck_assert_int_eq(service_apply(&m.view, &recv, &o), 0);
		ck_assert_int_eq(o.code, ERR_INVALID);
		ck_assert_uint_eq(o.delta.count, 0);
		if (names[i][0] == '\0')
			ck_assert_str_eq(o.message, "invalid queue name ''");
		outcome_release(&o);
		memview_release(&m);
	}
}
END_TEST

Suite *msg_suite(void)
{
	Suite *s = suite_create("msg");
	TCase *tc = tcase_create("transitions");

	tcase_add_test(tc, test_msg_send);
	tcase_add_test(tc, test_msg_send_full);
	tcase_add_test(tc, test_msg_recv);
	tcase_add_test(tc, test_msg_recv_last_keeps_queue);
	tcase_add_test(tc, test_msg_recv_empty);
	tcase_add_test(tc, test_msg_fifo);
	tcase_add_test(tc, test_msg_recv_key_exactly_once);
	tcase_add_test(tc, test_msg_recv_missing_head_is_corrupt);
	tcase_add_test(tc, test_msg_corrupt_queue_row);
	tcase_add_test(tc, test_msg_invalid_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("rows");
	tcase_add_test(tc, test_msg_rows_decode);
	tcase_add_test(tc, test_msg_key_decode);
	suite_add_tcase(s, tc);
	return s;
}
