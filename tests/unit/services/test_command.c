#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/pack.h"
#include "services/command.h"
#include "tests/unit/services/suites.h"

/*
 * Tests of services/command.h: every command type round trips with every
 * field intact; entries frame batches in multiples of 8; and the decoder, fed
 * truncated, mutated, oversized, deeply nested or mistyped input, rejects it
 * with the documented code (or decodes something within limits), never
 * crashing and never reading out of bounds (run under ASan by scripts/fuzz).
 */

/* A representative command of one type, with the buffers it points into. */
struct sample {
	struct cmd c;
	struct buf argv;
	struct buf env;
	uint8_t data[300];
};

static void sample_init(struct sample *s, uint32_t type)
{
	struct packer pk;
	size_t i;

	memset(s, 0, sizeof *s);
	for (i = 0; i < sizeof s->data; i++)
		s->data[i] = (uint8_t)(i * 7);
	s->c.version = CMD_VERSION;
	s->c.type = type;
	s->c.time_ms = 1700000000123ull;
	s->c.origin = 3;
	s->c.term = 42;
	s->c.request_id = 0xfeedfacecafebeefull;
	s->c.principal = (struct strref){"alice", 5};
	s->c.key = (struct strref){"retry-7", 7};
	switch (type) {
	case CMD_PROC_SUBMIT:
		packer_init(&pk, &s->argv);
		pack_array(&pk, 3);
		pack_cstr(&pk, "/bin/sh");
		pack_cstr(&pk, "-c");
		pack_cstr(&pk, "echo hi");
		ck_assert_int_eq(pk.err, 0);
		packer_init(&pk, &s->env);
		pack_map(&pk, 2);
		pack_cstr(&pk, "PATH");
		pack_cstr(&pk, "/usr/bin:/bin");
		pack_cstr(&pk, "EMPTY");
		pack_cstr(&pk, "");
		ck_assert_int_eq(pk.err, 0);
		s->c.u.submit.argv = (struct rawref){s->argv.data, s->argv.len, 3};
		s->c.u.submit.env = (struct rawref){s->env.data, s->env.len, 2};
		s->c.u.submit.cwd = (struct strref){"/tmp", 4};
		s->c.u.submit.placement = PLACE_NODE;
		s->c.u.submit.node = (struct strref){"host-2", 6};
		s->c.u.submit.restart = RESTART_ON_FAILURE;
		s->c.u.submit.max_restarts = 5;
		s->c.u.submit.timeout_ms = 60000;
		break;
	case CMD_PROC_STARTED:
		s->c.u.started = (struct cmd_proc_started){17, 2, 31415};
		break;
	case CMD_PROC_OUTPUT:
		s->c.u.output = (struct cmd_proc_output){17, 2, STREAM_STDERR, 9, {s->data, 300}};
		break;
	case CMD_PROC_EXITED:
		s->c.u.exited = (struct cmd_proc_exited){17, 2, -1, 9};
		break;
	case CMD_PROC_KILL:
		s->c.u.kill = (struct cmd_proc_kill){17, 15};
		break;
	case CMD_PROC_LOST:
		s->c.u.lost = (struct cmd_proc_lost){17, 3, {"host down", 9}};
		break;
	case CMD_STEP_RECORD:
		s->c.u.step = (struct cmd_step_record){17, 1, {"build", 5}, -3, {s->data, 20}};
		break;
	case CMD_MSG_SEND:
		s->c.u.send = (struct cmd_msg_send){{"jobs.high", 9}, {s->data, 64}};
		break;
	case CMD_MSG_RECV:
		s->c.u.recv = (struct cmd_msg_recv){{"jobs.high", 9}};
		break;
	case CMD_FILE_PUT:
		s->c.u.put = (struct cmd_file_put){{"/etc/app.conf", 13}, {s->data, 100}, 4};
		break;
	case CMD_FILE_DEL:
		s->c.u.del = (struct cmd_file_del){{"/etc/app.conf", 13}, -1};
		break;
	case CMD_NODE_JOIN:
		s->c.u.join = (struct cmd_node_join){
			0, {"host-4", 6}, {"10.0.0.4:7701", 13}, {"10.0.0.4:7700", 13}};
		break;
	case CMD_NODE_REMOVE:
	case CMD_NODE_DRAIN:
	case CMD_NODE_DOWN:
	case CMD_NODE_UP:
		s->c.u.node.node = 4 + type;
		break;
	case CMD_NODE_ROLE:
		s->c.u.role = (struct cmd_node_role){4, ROLE_STANDBY};
		break;
	case CMD_REWIND:
	case CMD_COMPACT:
		s->c.u.history.target = 1000 + type;
		break;
	case CMD_NOOP:
		s->c.key = (struct strref){NULL, 0};
		break;
	}
}

static void sample_release(struct sample *s)
{
	buf_release(&s->argv);
	buf_release(&s->env);
}

static bool str_eq(struct strref a, struct strref b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static bool bin_eq(struct binref a, struct binref b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static bool raw_eq(struct rawref a, struct rawref b)
{
	return a.count == b.count && a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

/* Compares every field of two commands (not the body bytes). */
static void assert_cmd_eq(const struct cmd *a, const struct cmd *b)
{
	ck_assert_uint_eq(b->version, CMD_VERSION);
	ck_assert_uint_eq(a->type, b->type);
	ck_assert_uint_eq(a->time_ms, b->time_ms);
	ck_assert_uint_eq(a->origin, b->origin);
	ck_assert_uint_eq(a->term, b->term);
	ck_assert_uint_eq(a->request_id, b->request_id);
	ck_assert(str_eq(a->principal, b->principal));
	ck_assert((a->key.p == NULL) == (b->key.p == NULL));
	ck_assert(str_eq(a->key, b->key));
	switch (a->type) {
	case CMD_PROC_SUBMIT:
		ck_assert(raw_eq(a->u.submit.argv, b->u.submit.argv));
		ck_assert(raw_eq(a->u.submit.env, b->u.submit.env));
		ck_assert(str_eq(a->u.submit.cwd, b->u.submit.cwd));
		ck_assert_int_eq(a->u.submit.placement, b->u.submit.placement);
		ck_assert(str_eq(a->u.submit.node, b->u.submit.node));
		ck_assert_int_eq(a->u.submit.restart, b->u.submit.restart);
		ck_assert_uint_eq(a->u.submit.max_restarts, b->u.submit.max_restarts);
		ck_assert_uint_eq(a->u.submit.timeout_ms, b->u.submit.timeout_ms);
		ck_assert_uint_eq(a->u.submit.count, b->u.submit.count);
		break;
	case CMD_PROC_STARTED:
		ck_assert_uint_eq(a->u.started.pid, b->u.started.pid);
		ck_assert_uint_eq(a->u.started.attempt, b->u.started.attempt);
		ck_assert_uint_eq(a->u.started.os_pid, b->u.started.os_pid);
		break;
	case CMD_PROC_OUTPUT:
		ck_assert_uint_eq(a->u.output.pid, b->u.output.pid);
		ck_assert_uint_eq(a->u.output.attempt, b->u.output.attempt);
		ck_assert_int_eq(a->u.output.stream, b->u.output.stream);
		ck_assert_uint_eq(a->u.output.seq, b->u.output.seq);
		ck_assert(bin_eq(a->u.output.data, b->u.output.data));
		break;
	case CMD_PROC_EXITED:
		ck_assert_uint_eq(a->u.exited.pid, b->u.exited.pid);
		ck_assert_uint_eq(a->u.exited.attempt, b->u.exited.attempt);
		ck_assert_int_eq(a->u.exited.exit_code, b->u.exited.exit_code);
		ck_assert_int_eq(a->u.exited.signal, b->u.exited.signal);
		break;
	case CMD_PROC_KILL:
		ck_assert_uint_eq(a->u.kill.pid, b->u.kill.pid);
		ck_assert_int_eq(a->u.kill.signal, b->u.kill.signal);
		break;
	case CMD_PROC_LOST:
		ck_assert_uint_eq(a->u.lost.pid, b->u.lost.pid);
		ck_assert_uint_eq(a->u.lost.attempt, b->u.lost.attempt);
		ck_assert(str_eq(a->u.lost.reason, b->u.lost.reason));
		break;
	case CMD_STEP_RECORD:
		ck_assert_uint_eq(a->u.step.pid, b->u.step.pid);
		ck_assert_uint_eq(a->u.step.attempt, b->u.step.attempt);
		ck_assert(str_eq(a->u.step.name, b->u.step.name));
		ck_assert_int_eq(a->u.step.exit_code, b->u.step.exit_code);
		ck_assert(bin_eq(a->u.step.output, b->u.step.output));
		break;
	case CMD_MSG_SEND:
		ck_assert(str_eq(a->u.send.queue, b->u.send.queue));
		ck_assert(bin_eq(a->u.send.data, b->u.send.data));
		break;
	case CMD_MSG_RECV:
		ck_assert(str_eq(a->u.recv.queue, b->u.recv.queue));
		break;
	case CMD_FILE_PUT:
		ck_assert(str_eq(a->u.put.path, b->u.put.path));
		ck_assert(bin_eq(a->u.put.data, b->u.put.data));
		ck_assert_int_eq(a->u.put.if_version, b->u.put.if_version);
		break;
	case CMD_FILE_DEL:
		ck_assert(str_eq(a->u.del.path, b->u.del.path));
		ck_assert_int_eq(a->u.del.if_version, b->u.del.if_version);
		break;
	case CMD_NODE_JOIN:
		ck_assert_uint_eq(a->u.join.id, b->u.join.id);
		ck_assert(str_eq(a->u.join.name, b->u.join.name));
		ck_assert(str_eq(a->u.join.raft_addr, b->u.join.raft_addr));
		ck_assert(str_eq(a->u.join.http_addr, b->u.join.http_addr));
		break;
	case CMD_NODE_REMOVE:
	case CMD_NODE_DRAIN:
	case CMD_NODE_DOWN:
	case CMD_NODE_UP:
		ck_assert_uint_eq(a->u.node.node, b->u.node.node);
		break;
	case CMD_NODE_ROLE:
		ck_assert_uint_eq(a->u.role.node, b->u.role.node);
		ck_assert_int_eq(a->u.role.role, b->u.role.role);
		break;
	case CMD_REWIND:
	case CMD_COMPACT:
		ck_assert_uint_eq(a->u.history.target, b->u.history.target);
		break;
	default:
		break;
	}
}

/* Encodes, decodes and compares; returns the decoded command. */
static void round_trip(const struct cmd *c, struct cmd *out, struct buf *b)
{
	char err[256];
	int rv;

	ck_assert_int_eq(cmd_encode(c, b), 0);
	rv = cmd_decode(b->data, b->len, out, err, sizeof err);
	ck_assert_msg(rv == 0, "%s: %s", cmd_type_name(c->type), err);
	assert_cmd_eq(c, out);
	/* The body bytes are the command's last element. */
	ck_assert_ptr_nonnull(out->body.p);
	ck_assert(out->body.p + out->body.n == b->data + b->len);
}

/* A command of `type` whose body is the given msgpack bytes (not validated). */
static void raw_command(struct buf *out, uint32_t type, const void *body, size_t n)
{
	struct packer pk;

	packer_init(&pk, out);
	pack_array(&pk, 9);
	pack_uint(&pk, CMD_VERSION);
	pack_uint(&pk, type);
	pack_uint(&pk, 1);
	pack_uint(&pk, 1);
	pack_uint(&pk, 1);
	pack_uint(&pk, 1);
	pack_cstr(&pk, "bob");
	pack_nil(&pk);
	ck_assert_int_eq(pk.err, 0);
	ck_assert_int_eq(buf_append(out, body, n), 0);
}

static int decode_buf(const struct buf *b, struct cmd *c)
{
	char err[256];

	return cmd_decode(b->data, b->len, c, err, sizeof err);
}

/* Decodes a command of `type` with a body built by the caller in `body`. */
static int decode_body(uint32_t type, const struct buf *body, char *err, size_t errlen)
{
	struct buf b = {0};
	struct cmd c;
	int rv;

	raw_command(&b, type, body->data, body->len);
	rv = cmd_decode(b.data, b.len, &c, err, errlen);
	buf_release(&b);
	return rv;
}

/* A decoded command must be within limits: it re-encodes and decodes equal. */
static void assert_within_limits(const struct cmd *c)
{
	struct buf b = {0};
	struct cmd again;

	ck_assert_int_eq(cmd_encode(c, &b), 0);
	ck_assert_int_eq(decode_buf(&b, &again), 0);
	assert_cmd_eq(c, &again);
	buf_release(&b);
}

START_TEST(test_command_type_names)
{
	uint32_t t;

	for (t = 1; t < CMD_TYPE_COUNT; t++)
		ck_assert_ptr_nonnull(cmd_type_name(t));
	ck_assert_str_eq(cmd_type_name(CMD_PROC_SUBMIT), "proc.submit");
	ck_assert_str_eq(cmd_type_name(CMD_NODE_ROLE), "node.role");
	ck_assert_str_eq(cmd_type_name(CMD_NOOP), "noop");
	ck_assert_ptr_null(cmd_type_name(0));
	ck_assert_ptr_null(cmd_type_name(CMD_TYPE_COUNT));
	ck_assert_ptr_null(cmd_type_name(UINT32_MAX));
}
END_TEST

START_TEST(test_command_round_trips_every_type)
{
	uint32_t t;

	for (t = 1; t < CMD_TYPE_COUNT; t++) {
		struct sample s;
		struct buf b = {0};
		struct cmd d;

		sample_init(&s, t);
		round_trip(&s.c, &d, &b);
		buf_release(&b);
		sample_release(&s);
	}
}
END_TEST

START_TEST(test_command_round_trips_extremes)
{
	static char arg[CMD_ARG_MAX];
	static uint8_t chunk[CMD_CHUNK_MAX];
	char path[CMD_PATH_MAX + 1];
	struct sample s;
	struct packer pk;
	struct buf argv = {0}, b = {0};
	struct cmd d;
	int i;

	memset(arg, 'x', sizeof arg);
	memset(chunk, 0xab, sizeof chunk);
	/* Most arguments, the longest argument, longest strings. */
	sample_init(&s, CMD_PROC_SUBMIT);
	packer_init(&pk, &argv);
	pack_array(&pk, CMD_ARGV_MAX);
	pack_str(&pk, arg, CMD_ARG_MAX);
	for (i = 1; i < CMD_ARGV_MAX; i++)
		pack_str(&pk, arg, 200);
	ck_assert_int_eq(pk.err, 0);
	s.c.u.submit.argv = (struct rawref){argv.data, argv.len, CMD_ARGV_MAX};
	s.c.u.submit.env = (struct rawref){(const uint8_t *)"\x80", 1, 0};
	s.c.u.submit.placement = PLACE_ALL;
	s.c.u.submit.node = (struct strref){NULL, 0};
	s.c.u.submit.cwd = (struct strref){arg, CMD_CWD_MAX};
	s.c.u.submit.restart = RESTART_ALWAYS;
	s.c.u.submit.max_restarts = UINT32_MAX;
	s.c.u.submit.timeout_ms = UINT64_MAX;
	s.c.time_ms = s.c.origin = s.c.term = s.c.request_id = UINT64_MAX;
	s.c.principal = (struct strref){arg, CMD_PRINCIPAL_MAX};
	s.c.key = (struct strref){arg, CMD_KEY_MAX};
	round_trip(&s.c, &d, &b);
	buf_release(&b);
	sample_release(&s);

	/* Empty principal, extreme integers, the largest chunk. */
	sample_init(&s, CMD_PROC_OUTPUT);
	s.c.principal = (struct strref){NULL, 0};
	s.c.u.output = (struct cmd_proc_output){
		UINT64_MAX, UINT32_MAX, STREAM_STDOUT, UINT64_MAX, {chunk, CMD_CHUNK_MAX}};
	round_trip(&s.c, &d, &b);
	buf_release(&b);

	sample_init(&s, CMD_PROC_EXITED);
	s.c.u.exited = (struct cmd_proc_exited){1, 1, INT32_MIN, 64};
	round_trip(&s.c, &d, &b);
	buf_release(&b);
	s.c.u.exited.exit_code = INT32_MAX;
	round_trip(&s.c, &d, &b);
	buf_release(&b);

	/* The longest path; empty file data; if_version extremes. */
	memset(path, 'p', sizeof path);
	path[0] = '/';
	path[50] = '/';
	sample_init(&s, CMD_FILE_PUT);
	s.c.u.put = (struct cmd_file_put){{path, CMD_PATH_MAX}, {NULL, 0}, INT64_MAX};
	round_trip(&s.c, &d, &b);
	ck_assert_uint_eq(d.u.put.data.n, 0);
	buf_release(&b);
	s.c.u.put.if_version = 0;
	round_trip(&s.c, &d, &b);
	buf_release(&b);

	sample_init(&s, CMD_NODE_JOIN);
	s.c.u.join.id = UINT64_MAX;
	round_trip(&s.c, &d, &b);
	buf_release(&b);
	buf_release(&argv);
}
END_TEST

START_TEST(test_command_message_names_field_and_limit)
{
	static char big[5000];
	struct buf body = {0};
	struct packer pk;
	char err[256];

	memset(big, 'y', sizeof big);
	packer_init(&pk, &body);
	pack_array(&pk, 8);
	pack_array(&pk, 4);
	pack_cstr(&pk, "a");
	pack_cstr(&pk, "b");
	pack_cstr(&pk, "c");
	pack_str(&pk, big, sizeof big);
	pack_map(&pk, 0);
	pack_cstr(&pk, "");
	pack_uint(&pk, PLACE_ANY);
	pack_cstr(&pk, "");
	pack_uint(&pk, RESTART_NO);
	pack_uint(&pk, 0);
	pack_uint(&pk, 0);
	ck_assert_int_eq(decode_body(CMD_PROC_SUBMIT, &body, err, sizeof err), ERR_TOOBIG);
	ck_assert_str_eq(err, "proc.submit: argv[3] is 5000 bytes, over the limit of 4096");
	buf_release(&body);
}
END_TEST

START_TEST(test_command_entry_round_trips)
{
	struct buf e = {0}, b = {0};
	struct entry_builder eb;
	struct entry_reader r;
	struct sample s[CMD_TYPE_COUNT];
	size_t offsets[CMD_TYPE_COUNT + 1];
	const void *p;
	size_t n;
	char err[256];
	uint32_t t;
	struct cmd d;

	/* Start the entry at an odd offset: padding is relative to its start. */
	ck_assert_int_eq(buf_append(&e, "xyz", 3), 0);
	ck_assert_int_eq(entry_begin(&eb, &e), 0);
	offsets[0] = 0;
	for (t = 1; t < CMD_TYPE_COUNT; t++) {
		sample_init(&s[t], t);
		ck_assert_int_eq(cmd_encode(&s[t].c, &b), 0);
		ck_assert_int_eq(entry_add(&eb, b.data + offsets[t - 1], b.len - offsets[t - 1]),
				 0);
		offsets[t] = b.len;
	}
	ck_assert_int_eq(entry_finish(&eb), 0);
	ck_assert_uint_eq((e.len - 3) % 8, 0);
	ck_assert_int_eq(entry_open(&r, e.data + 3, e.len - 3, err, sizeof err), 0);
	ck_assert_uint_eq(entry_count(&r), CMD_TYPE_COUNT - 1);
	for (t = 1; t < CMD_TYPE_COUNT; t++) {
		ck_assert_int_eq(entry_next(&r, &p, &n), 0);
		ck_assert_uint_eq(n, offsets[t] - offsets[t - 1]);
		ck_assert_int_eq(cmd_decode(p, n, &d, err, sizeof err), 0);
		assert_cmd_eq(&s[t].c, &d);
		sample_release(&s[t]);
	}
	ck_assert_int_eq(entry_next(&r, &p, &n), ERR_NOTFOUND);
	buf_release(&e);
	buf_release(&b);
}
END_TEST

START_TEST(test_command_entry_of_large_command)
{
	static uint8_t data[CMD_MESSAGE_MAX];
	struct buf e = {0}, b = {0};
	struct entry_builder eb;
	struct entry_reader r;
	struct sample s;
	const void *p;
	size_t n;
	char err[256];
	struct cmd d;

	/* A command over 64 KiB takes a bin32 header. */
	sample_init(&s, CMD_MSG_SEND);
	s.c.u.send.data = (struct binref){data, sizeof data};
	ck_assert_int_eq(cmd_encode(&s.c, &b), 0);
	ck_assert_int_eq(entry_begin(&eb, &e), 0);
	ck_assert_int_eq(entry_add(&eb, b.data, b.len), 0);
	ck_assert_int_eq(entry_add(&eb, b.data, b.len), 0);
	ck_assert_int_eq(entry_finish(&eb), 0);
	ck_assert_uint_eq(e.len % 8, 0);
	ck_assert_int_eq(entry_open(&r, e.data, e.len, err, sizeof err), 0);
	ck_assert_uint_eq(entry_count(&r), 2);
	ck_assert_int_eq(entry_next(&r, &p, &n), 0);
	ck_assert_int_eq(cmd_decode(p, n, &d, err, sizeof err), 0);
	assert_cmd_eq(&s.c, &d);
	buf_release(&e);
	buf_release(&b);
}
END_TEST

START_TEST(test_command_entry_batch_limit)
{
	struct buf e = {0}, b = {0};
	struct entry_builder eb;
	struct entry_reader r;
	struct sample s;
	char err[256];
	int i;

	sample_init(&s, CMD_NOOP);
	ck_assert_int_eq(cmd_encode(&s.c, &b), 0);
	ck_assert_int_eq(entry_begin(&eb, &e), 0);
	for (i = 0; i < CMD_BATCH_MAX; i++)
		ck_assert_int_eq(entry_add(&eb, b.data, b.len), 0);
	ck_assert_int_eq(entry_add(&eb, b.data, b.len), ERR_TOOBIG);
	ck_assert_int_eq(entry_finish(&eb), 0);
	ck_assert_int_eq(entry_open(&r, e.data, e.len, err, sizeof err), 0);
	ck_assert_uint_eq(entry_count(&r), CMD_BATCH_MAX);
	/* One more command, patched into the count: over the limit. */
	be32_put(e.data + eb.count_at + 1, CMD_BATCH_MAX + 1);
	ck_assert_int_eq(entry_open(&r, e.data, e.len, err, sizeof err), ERR_TOOBIG);
	buf_release(&e);
	buf_release(&b);
}
END_TEST

START_TEST(test_command_entry_empty_rejected)
{
	struct buf e = {0};
	struct entry_builder eb;

	ck_assert_int_eq(entry_begin(&eb, &e), 0);
	ck_assert_int_eq(entry_finish(&eb), ERR_INVALID);
	ck_assert_uint_eq(e.len, 0);
	buf_release(&e);
}
END_TEST

/* A valid entry of a few commands. */
static void make_entry(struct buf *e)
{
	static const uint32_t types[] = {CMD_PROC_KILL, CMD_FILE_DEL, CMD_NOOP};
	struct entry_builder eb;
	size_t i;

	ck_assert_int_eq(entry_begin(&eb, e), 0);
	for (i = 0; i < sizeof types / sizeof types[0]; i++) {
		struct sample s;
		struct buf b = {0};

		sample_init(&s, types[i]);
		ck_assert_int_eq(cmd_encode(&s.c, &b), 0);
		ck_assert_int_eq(entry_add(&eb, b.data, b.len), 0);
		buf_release(&b);
	}
	ck_assert_int_eq(entry_finish(&eb), 0);
}

START_TEST(test_command_entry_framing_rejected)
{
	struct buf e = {0}, bad = {0};
	struct entry_reader r;
	char err[256];
	size_t payload;

	make_entry(&e);
	payload = be32_get(e.data);
	ck_assert_uint_lt(e.len - 4 - payload, 8);
	ck_assert_uint_gt(e.len - 4 - payload, 0);

	/* Non-zero padding. */
	e.data[e.len - 1] = 1;
	ck_assert_int_eq(entry_open(&r, e.data, e.len, err, sizeof err), ERR_CORRUPT);
	e.data[e.len - 1] = 0;
	ck_assert_int_eq(entry_open(&r, e.data, e.len, err, sizeof err), 0);

	/* Eight more zero bytes: more than padding. */
	ck_assert_int_eq(buf_append(&bad, e.data, e.len), 0);
	ck_assert_int_eq(buf_append(&bad, "\0\0\0\0\0\0\0\0", 8), 0);
	ck_assert_int_eq(entry_open(&r, bad.data, bad.len, err, sizeof err), ERR_CORRUPT);

	/* A length prefix past the end, and one that cuts the payload short. */
	be32_put(e.data, (uint32_t)e.len);
	ck_assert_int_eq(entry_open(&r, e.data, e.len, err, sizeof err), ERR_CORRUPT);
	be32_put(e.data, UINT32_MAX);
	ck_assert_int_eq(entry_open(&r, e.data, e.len, err, sizeof err), ERR_CORRUPT);
	be32_put(e.data, (uint32_t)payload - 1);
	ck_assert_int_eq(entry_open(&r, e.data, e.len, err, sizeof err), ERR_CORRUPT);
	be32_put(e.data, (uint32_t)payload);

	/* Another entry version. */
	e.data[5] = ENTRY_VERSION + 1;
	ck_assert_int_eq(entry_open(&r, e.data, e.len, err, sizeof err), ERR_UNSUPPORTED);
	e.data[5] = ENTRY_VERSION;

	/* A command that is not binary. */
	e.data[11] = 0xa0;
	ck_assert_int_eq(entry_open(&r, e.data, e.len, err, sizeof err), ERR_CORRUPT);

	/* Too short to hold anything. */
	ck_assert_int_eq(entry_open(&r, e.data, 0, err, sizeof err), ERR_CORRUPT);
	ck_assert_int_eq(entry_open(&r, "\0\0\0\0\0\0\0\0", 8, err, sizeof err), ERR_CORRUPT);
	buf_release(&e);
	buf_release(&bad);
}
END_TEST

START_TEST(test_command_entry_truncation_rejected)
{
	struct buf e = {0};
	struct entry_reader r;
	char err[256];
	size_t len;

	make_entry(&e);
	for (len = 0; len < e.len; len++) {
		/* A copy of exactly `len` bytes, so ASan sees any overread. */
		uint8_t *copy = malloc(len ? len : 1);

		memcpy(copy, e.data, len);
		ck_assert_int_ne(entry_open(&r, copy, len, err, sizeof err), 0);
		free(copy);
	}
	buf_release(&e);
}
END_TEST

START_TEST(test_command_truncation_rejected)
{
	uint32_t t;
	size_t len;

	for (t = 1; t < CMD_TYPE_COUNT; t++) {
		struct sample s;
		struct buf b = {0};
		struct cmd d;
		char err[256];

		sample_init(&s, t);
		ck_assert_int_eq(cmd_encode(&s.c, &b), 0);
		for (len = 0; len < b.len; len++) {
			uint8_t *copy = malloc(len ? len : 1);
			int rv;

			memcpy(copy, b.data, len);
			rv = cmd_decode(copy, len, &d, err, sizeof err);
			ck_assert_msg(rv != 0, "%s decoded at %zu of %zu bytes", cmd_type_name(t),
				      len, b.len);
			free(copy);
		}
		buf_release(&b);
		sample_release(&s);
	}
}
END_TEST

START_TEST(test_command_mutations_decode_within_limits_or_fail)
{
	static const uint32_t types[] = {CMD_PROC_SUBMIT, CMD_PROC_OUTPUT, CMD_FILE_PUT,
					 CMD_NODE_JOIN, CMD_PROC_EXITED};
	size_t i, at;
	unsigned v;

	for (i = 0; i < sizeof types / sizeof types[0]; i++) {
		struct sample s;
		struct buf b = {0};

		sample_init(&s, types[i]);
		ck_assert_int_eq(cmd_encode(&s.c, &b), 0);
		for (at = 0; at < b.len; at++) {
			uint8_t *copy = malloc(b.len);

			for (v = 0; v < 256; v++) {
				struct cmd d;
				char err[256];

				memcpy(copy, b.data, b.len);
				copy[at] = (uint8_t)v;
				if (cmd_decode(copy, b.len, &d, err, sizeof err) == 0)
					assert_within_limits(&d);
				else
					ck_assert(err[0] != '\0');
			}
			free(copy);
		}
		buf_release(&b);
		sample_release(&s);
	}
}
END_TEST

START_TEST(test_command_oversized_lengths_rejected)
{
	static char arg[CMD_ARG_MAX + 1];
	struct buf body = {0}, b = {0};
	struct packer pk;
	struct sample s;
	struct cmd d;
	char err[256];
	int i;

	memset(arg, 'a', sizeof arg);
	/* An argument over CMD_ARG_MAX: cmd_encode refuses, cmd_decode too. */
	sample_init(&s, CMD_PROC_SUBMIT);
	packer_init(&pk, &body);
	pack_array(&pk, 1);
	pack_str(&pk, arg, CMD_ARG_MAX + 1);
	s.c.u.submit.argv = (struct rawref){body.data, body.len, 1};
	ck_assert_int_eq(cmd_encode(&s.c, &b), ERR_INVALID);
	ck_assert_uint_eq(b.len, 0);
	buf_release(&body);
	sample_release(&s);

	packer_init(&pk, &body);
	pack_array(&pk, 8);
	pack_array(&pk, 1);
	pack_str(&pk, arg, CMD_ARG_MAX + 1);
	pack_map(&pk, 0);
	pack_cstr(&pk, "");
	pack_uint(&pk, 0);
	pack_cstr(&pk, "");
	pack_uint(&pk, 0);
	pack_uint(&pk, 0);
	pack_uint(&pk, 0);
	ck_assert_int_eq(decode_body(CMD_PROC_SUBMIT, &body, err, sizeof err), ERR_TOOBIG);
	buf_release(&body);

	/* Too many arguments. */
	packer_init(&pk, &body);
	pack_array(&pk, 8);
	pack_array(&pk, CMD_ARGV_MAX + 1);
	for (i = 0; i < CMD_ARGV_MAX + 1; i++)
		pack_cstr(&pk, "x");
	pack_map(&pk, 0);
	pack_cstr(&pk, "");
	pack_uint(&pk, 0);
	pack_cstr(&pk, "");
	pack_uint(&pk, 0);
	pack_uint(&pk, 0);
	pack_uint(&pk, 0);
	ck_assert_int_eq(decode_body(CMD_PROC_SUBMIT, &body, err, sizeof err), ERR_TOOBIG);
	buf_release(&body);

	/* argv and env over CMD_ARGS_TOTAL_MAX together. */
	packer_init(&pk, &body);
	pack_array(&pk, 8);
	pack_array(&pk, 16);
	for (i = 0; i < 16; i++)
		pack_str(&pk, arg, CMD_ARG_MAX);
	pack_map(&pk, 1);
	pack_cstr(&pk, "A");
	pack_str(&pk, arg, 200);
	pack_cstr(&pk, "");
	pack_uint(&pk, 0);
	pack_cstr(&pk, "");
	pack_uint(&pk, 0);
	pack_uint(&pk, 0);
	pack_uint(&pk, 0);
	ck_assert_int_eq(decode_body(CMD_PROC_SUBMIT, &body, err, sizeof err), ERR_TOOBIG);
	buf_release(&body);

	/* A message over CMD_MESSAGE_MAX. */
	{
		uint8_t *big = calloc(1, CMD_MESSAGE_MAX + 1);

		sample_init(&s, CMD_MSG_SEND);
		s.c.u.send.data = (struct binref){big, CMD_MESSAGE_MAX + 1};
		ck_assert_int_eq(cmd_encode(&s.c, &b), ERR_INVALID);
		ck_assert_uint_eq(b.len, 0);
		packer_init(&pk, &body);
		pack_array(&pk, 2);
		pack_cstr(&pk, "q");
		pack_bin(&pk, big, CMD_MESSAGE_MAX + 1);
		ck_assert_int_eq(decode_body(CMD_MSG_SEND, &body, err, sizeof err), ERR_TOOBIG);
		buf_release(&body);
		free(big);
	}

	/* A str32 header claiming 4 GiB where the principal is. */
	{
		static const uint8_t cmd[] = {0x99, 0x01, 0x14, 0x00, 0x00, 0x00,
					      0x00, 0xdb, 0xff, 0xff, 0xff, 0xff};

		ck_assert_int_eq(cmd_decode(cmd, sizeof cmd, &d, err, sizeof err), ERR_CORRUPT);
	}
	/* An array32 header claiming 4 G elements as the body. */
	{
		static const uint8_t body32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
		struct buf raw = {0};

		raw_command(&raw, CMD_NOOP, body32, sizeof body32);
		ck_assert_int_eq(decode_buf(&raw, &d), ERR_CORRUPT);
		buf_release(&raw);
	}
	/* Longer principal, key and output than allowed. */
	sample_init(&s, CMD_PROC_OUTPUT);
	s.c.principal = (struct strref){arg, CMD_PRINCIPAL_MAX + 1};
	ck_assert_int_eq(cmd_encode(&s.c, &b), ERR_INVALID);
	s.c.principal = (struct strref){"p", 1};
	s.c.key = (struct strref){arg, CMD_KEY_MAX + 1};
	ck_assert_int_eq(cmd_encode(&s.c, &b), ERR_INVALID);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(test_command_deep_nesting_rejected)
{
	size_t depth = 100000, i;
	uint8_t *nest = malloc(depth + 2);
	struct buf raw = {0};
	struct cmd d;
	char err[256];
	int rv;

	/* Where pid is expected. */
	nest[0] = 0x93;
	memset(nest + 1, 0x91, depth);
	nest[depth + 1] = 0x01;
	raw_command(&raw, CMD_PROC_STARTED, nest, depth + 2);
	ck_assert_int_eq(decode_buf(&raw, &d), ERR_INVALID);
	buf_release(&raw);

	/* Where an argument is expected. */
	nest[0] = 0x98;
	raw_command(&raw, CMD_PROC_SUBMIT, nest, depth + 2);
	ck_assert_int_eq(decode_buf(&raw, &d), ERR_INVALID);
	buf_release(&raw);

	/* As the body of a noop, and as the whole command. */
	raw_command(&raw, CMD_NOOP, nest + 1, depth + 1);
	ck_assert_int_eq(decode_buf(&raw, &d), ERR_INVALID);
	buf_release(&raw);
	rv = cmd_decode(nest + 1, depth + 1, &d, err, sizeof err);
	ck_assert(rv == ERR_INVALID || rv == ERR_CORRUPT);
	for (i = 0; i < depth; i++)
		nest[i] = 0xdd;
	rv = cmd_decode(nest, depth, &d, err, sizeof err);
	ck_assert(rv == ERR_INVALID || rv == ERR_CORRUPT);
	free(nest);
}
END_TEST

START_TEST(test_command_wrong_types_rejected)
{
	struct buf body = {0}, raw = {0};
	struct packer pk;
	struct cmd d;
	char err[256];

	/* pid as a string. */
	packer_init(&pk, &body);
	pack_array(&pk, 2);
	pack_cstr(&pk, "17");
	pack_int(&pk, 9);
	ck_assert_int_eq(decode_body(CMD_PROC_KILL, &body, err, sizeof err), ERR_INVALID);
	ck_assert_str_eq(err, "proc.kill: pid is not an unsigned integer");
	buf_release(&body);

	/* A negative pid. */
	packer_init(&pk, &body);
	pack_array(&pk, 2);
	pack_int(&pk, -17);
	pack_int(&pk, 9);
	ck_assert_int_eq(decode_body(CMD_PROC_KILL, &body, err, sizeof err), ERR_INVALID);
	buf_release(&body);

	/* A queue name as binary. */
	packer_init(&pk, &body);
	pack_array(&pk, 1);
	pack_bin(&pk, "q", 1);
	ck_assert_int_eq(decode_body(CMD_MSG_RECV, &body, err, sizeof err), ERR_INVALID);
	buf_release(&body);

	/* File data as a string. */
	packer_init(&pk, &body);
	pack_array(&pk, 3);
	pack_cstr(&pk, "/a");
	pack_cstr(&pk, "data");
	pack_int(&pk, -1);
	ck_assert_int_eq(decode_body(CMD_FILE_PUT, &body, err, sizeof err), ERR_INVALID);
	buf_release(&body);

	/* The body as a map; env as an array; a wrong field count. */
	packer_init(&pk, &body);
	pack_map(&pk, 0);
	ck_assert_int_eq(decode_body(CMD_NOOP, &body, err, sizeof err), ERR_INVALID);
	buf_release(&body);
	packer_init(&pk, &body);
	pack_array(&pk, 2);
	pack_uint(&pk, 1);
	pack_uint(&pk, 1);
	ck_assert_int_eq(decode_body(CMD_NODE_UP, &body, err, sizeof err), ERR_INVALID);
	buf_release(&body);
	packer_init(&pk, &body);
	pack_array(&pk, 8);
	pack_array(&pk, 1);
	pack_cstr(&pk, "x");
	pack_array(&pk, 0);
	pack_cstr(&pk, "");
	pack_uint(&pk, 0);
	pack_cstr(&pk, "");
	pack_uint(&pk, 0);
	pack_uint(&pk, 0);
	pack_uint(&pk, 0);
	ck_assert_int_eq(decode_body(CMD_PROC_SUBMIT, &body, err, sizeof err), ERR_INVALID);
	buf_release(&body);

	/* Header fields of the wrong type: principal as an int, key as an int,
	 * time as a string, the command as a map. */
	packer_init(&pk, &raw);
	pack_array(&pk, 9);
	pack_uint(&pk, 1);
	pack_uint(&pk, CMD_NOOP);
	pack_uint(&pk, 1);
	pack_uint(&pk, 1);
	pack_uint(&pk, 1);
	pack_uint(&pk, 1);
	pack_uint(&pk, 5);
	pack_nil(&pk);
	pack_array(&pk, 0);
	ck_assert_int_eq(decode_buf(&raw, &d), ERR_INVALID);
	raw.data[7] = 0xa0; /* principal "" */
	raw.data[8] = 0x05; /* key 5 */
	ck_assert_int_eq(decode_buf(&raw, &d), ERR_INVALID);
	raw.data[8] = 0xc0;
	ck_assert_int_eq(decode_buf(&raw, &d), 0);
	raw.data[3] = 0xa0; /* time_ms "" */
	ck_assert_int_eq(decode_buf(&raw, &d), ERR_INVALID);
	raw.data[3] = 0x01;
	raw.data[0] = 0x80;
	ck_assert_int_eq(decode_buf(&raw, &d), ERR_INVALID);
	raw.data[0] = 0x98; /* 8 elements */
	ck_assert_int_eq(cmd_decode(raw.data, raw.len - 1, &d, err, sizeof err), ERR_INVALID);
	buf_release(&raw);
}
END_TEST

START_TEST(test_command_unknown_type_and_version_rejected)
{
	static const uint32_t types[] = {0, CMD_TYPE_COUNT, 1000};
	struct buf raw = {0};
	struct cmd d;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof types / sizeof types[0]; i++) {
		raw_command(&raw, types[i], "\x90", 1);
		ck_assert_int_eq(cmd_decode(raw.data, raw.len, &d, err, sizeof err), ERR_INVALID);
		buf_release(&raw);
	}
	raw_command(&raw, CMD_NOOP, "\x90", 1);
	ck_assert_int_eq(decode_buf(&raw, &d), 0);
	raw.data[1] = CMD_VERSION + 1;
	ck_assert_int_eq(cmd_decode(raw.data, raw.len, &d, err, sizeof err), ERR_UNSUPPORTED);
	ck_assert_str_eq(err, "command: version 2 is not supported (only 1)");
	raw.data[1] = 0;
	ck_assert_int_eq(decode_buf(&raw, &d), ERR_UNSUPPORTED);
	/* A later version may have another element count. */
	raw.data[0] = 0x92;
	raw.data[1] = CMD_VERSION + 1;
	ck_assert_int_eq(decode_buf(&raw, &d), ERR_UNSUPPORTED);
	raw.data[1] = 0xa0;
	ck_assert_int_eq(decode_buf(&raw, &d), ERR_INVALID);
	buf_release(&raw);

	/* cmd_encode refuses what cmd_decode would. */
	{
		struct sample s;
		struct buf b = {0};

		sample_init(&s, CMD_NOOP);
		s.c.type = CMD_TYPE_COUNT;
		ck_assert_int_eq(cmd_encode(&s.c, &b), ERR_INVALID);
		s.c.type = CMD_NOOP;
		s.c.version = CMD_VERSION + 1;
		ck_assert_int_eq(cmd_encode(&s.c, &b), ERR_INVALID);
		ck_assert_uint_eq(b.len, 0);
	}
}
END_TEST

START_TEST(test_command_trailing_bytes_rejected)
{
	struct buf raw = {0};
	struct cmd d;

	raw_command(&raw, CMD_NOOP, "\x90\x00", 2);
	ck_assert_int_eq(decode_buf(&raw, &d), ERR_CORRUPT);
	buf_release(&raw);
}
END_TEST

/* Encodes file.del of `path`; returns cmd_encode's and cmd_decode's codes. */
static void path_codes(const char *path, size_t n, int *enc, int *dec)
{
	struct sample s;
	struct buf b = {0}, body = {0};
	struct packer pk;
	char err[256];

	sample_init(&s, CMD_FILE_DEL);
	s.c.u.del.path = (struct strref){path, n};
	*enc = cmd_encode(&s.c, &b);
	packer_init(&pk, &body);
	pack_array(&pk, 2);
	pack_str(&pk, path, n);
	pack_int(&pk, -1);
	*dec = decode_body(CMD_FILE_DEL, &body, err, sizeof err);
	buf_release(&b);
	buf_release(&body);
}

START_TEST(test_command_invalid_paths_rejected)
{
	static const char *const bad[] = {
		"relative", "",    "/",    "/a//b", "//a", "/a/./b", "/a/../b", "/a/",
		"/.",       "/..", "/a/.", "/a/..", "./a", "/a\nb",  "/a\x7f",  "/a\tb",
	};
	static const char *const good[] = {"/a",     "/a/b.c",   "/.hidden",
					   "/a/...", "/a..b/c.", "/a b/\xc3\xa4"};
	char longpath[CMD_PATH_MAX + 2];
	size_t i;
	int enc, dec;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		path_codes(bad[i], strlen(bad[i]), &enc, &dec);
		ck_assert_msg(enc == ERR_INVALID, "encoded '%s'", bad[i]);
		ck_assert_msg(dec == ERR_INVALID, "decoded '%s'", bad[i]);
	}
	path_codes("/a\0b", 4, &enc, &dec);
	ck_assert_int_eq(enc, ERR_INVALID);
	ck_assert_int_eq(dec, ERR_INVALID);
	memset(longpath, 'l', sizeof longpath);
	longpath[0] = '/';
	path_codes(longpath, CMD_PATH_MAX + 1, &enc, &dec);
	ck_assert_int_eq(enc, ERR_INVALID);
	ck_assert_int_eq(dec, ERR_TOOBIG);
	path_codes(longpath, CMD_PATH_MAX, &enc, &dec);
	ck_assert_int_eq(enc, 0);
	ck_assert_int_eq(dec, 0);
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		path_codes(good[i], strlen(good[i]), &enc, &dec);
		ck_assert_msg(enc == 0 && dec == 0, "rejected '%s'", good[i]);
	}
}
END_TEST

START_TEST(test_command_invalid_queue_names_rejected)
{
	static const char *const bad[] = {"", "a b", "a/b", "q\xc3\xa4", "q:1", "*"};
	char longname[CMD_QUEUE_MAX + 1];
	struct buf body = {0};
	struct packer pk;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		packer_init(&pk, &body);
		pack_array(&pk, 1);
		pack_cstr(&pk, bad[i]);
		ck_assert_msg(decode_body(CMD_MSG_RECV, &body, err, sizeof err) == ERR_INVALID,
			      "accepted '%s'", bad[i]);
		buf_release(&body);
	}
	memset(longname, 'q', sizeof longname);
	packer_init(&pk, &body);
	pack_array(&pk, 1);
	pack_str(&pk, longname, CMD_QUEUE_MAX + 1);
	ck_assert_int_eq(decode_body(CMD_MSG_RECV, &body, err, sizeof err), ERR_TOOBIG);
	buf_release(&body);
	packer_init(&pk, &body);
	pack_array(&pk, 1);
	pack_str(&pk, longname, CMD_QUEUE_MAX);
	ck_assert_int_eq(decode_body(CMD_MSG_RECV, &body, err, sizeof err), 0);
	buf_release(&body);
	packer_init(&pk, &body);
	pack_array(&pk, 1);
	pack_cstr(&pk, "Jobs.high-1_x");
	ck_assert_int_eq(decode_body(CMD_MSG_RECV, &body, err, sizeof err), 0);
	buf_release(&body);
}
END_TEST

/* Encodes a sample after `change`; returns cmd_encode's code. */
static int encode_changed(uint32_t type, void (*change)(struct cmd *c))
{
	struct sample s;
	struct buf b = {0};
	int rv;

	sample_init(&s, type);
	change(&s.c);
	rv = cmd_encode(&s.c, &b);
	if (rv != 0)
		ck_assert_uint_eq(b.len, 0);
	buf_release(&b);
	sample_release(&s);
	return rv;
}

static void kill_signal_0(struct cmd *c)
{
	c->u.kill.signal = 0;
}
static void kill_signal_65(struct cmd *c)
{
	c->u.kill.signal = 65;
}
static void kill_pid_0(struct cmd *c)
{
	c->u.kill.pid = 0;
}
static void started_attempt_0(struct cmd *c)
{
	c->u.started.attempt = 0;
}
static void output_stream_3(struct cmd *c)
{
	c->u.output.stream = 3;
}
static void output_empty(struct cmd *c)
{
	c->u.output.data.n = 0;
}
static void role_3(struct cmd *c)
{
	c->u.role.role = 3;
}
static void placement_3(struct cmd *c)
{
	c->u.submit.placement = 3;
}
static void node_without_placement(struct cmd *c)
{
	c->u.submit.placement = PLACE_ANY;
}
static void placement_without_node(struct cmd *c)
{
	c->u.submit.node.n = 0;
}
static void restart_neg(struct cmd *c)
{
	c->u.submit.restart = -1;
}
static void argv_count_wrong(struct cmd *c)
{
	c->u.submit.argv.count = 2;
}
static void put_if_version_neg2(struct cmd *c)
{
	c->u.put.if_version = -2;
}
static void join_bad_name(struct cmd *c)
{
	c->u.join.name = (struct strref){"host 4", 6};
}
static void join_no_addr(struct cmd *c)
{
	c->u.join.raft_addr.n = 0;
}
static void step_no_name(struct cmd *c)
{
	c->u.step.name.n = 0;
}
static void principal_nul(struct cmd *c)
{
	c->principal = (struct strref){"a\0b", 3};
}
static void key_empty(struct cmd *c)
{
	c->key = (struct strref){"", 0};
}
static void exited_signal_65(struct cmd *c)
{
	c->u.exited.signal = 65;
}

START_TEST(test_command_out_of_range_values_rejected)
{
	static const struct {
		uint32_t type;
		void (*change)(struct cmd *c);
	} cases[] = {
		{CMD_PROC_KILL, kill_signal_0},
		{CMD_PROC_KILL, kill_signal_65},
		{CMD_PROC_KILL, kill_pid_0},
		{CMD_PROC_STARTED, started_attempt_0},
		{CMD_PROC_OUTPUT, output_stream_3},
		{CMD_PROC_OUTPUT, output_empty},
		{CMD_NODE_ROLE, role_3},
		{CMD_PROC_SUBMIT, placement_3},
		{CMD_PROC_SUBMIT, node_without_placement},
		{CMD_PROC_SUBMIT, placement_without_node},
		{CMD_PROC_SUBMIT, restart_neg},
		{CMD_PROC_SUBMIT, argv_count_wrong},
		{CMD_FILE_PUT, put_if_version_neg2},
		{CMD_NODE_JOIN, join_bad_name},
		{CMD_NODE_JOIN, join_no_addr},
		{CMD_STEP_RECORD, step_no_name},
		{CMD_MSG_SEND, principal_nul},
		{CMD_MSG_SEND, key_empty},
		{CMD_PROC_EXITED, exited_signal_65},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(encode_changed(cases[i].type, cases[i].change) == ERR_INVALID,
			      "case %zu encoded", i);
}
END_TEST

START_TEST(test_command_out_of_range_values_not_decoded)
{
	struct buf body = {0};
	struct packer pk;
	char err[256];

	packer_init(&pk, &body);
	pack_array(&pk, 2);
	pack_uint(&pk, 17);
	pack_int(&pk, 65);
	ck_assert_int_eq(decode_body(CMD_PROC_KILL, &body, err, sizeof err), ERR_INVALID);
	ck_assert_str_eq(err, "proc.kill: signal is 65, out of range 1..64");
	buf_release(&body);

	/* attempt over 32 bits. */
	packer_init(&pk, &body);
	pack_array(&pk, 3);
	pack_uint(&pk, 17);
	pack_uint(&pk, 1ull << 32);
	pack_uint(&pk, 1);
	ck_assert_int_eq(decode_body(CMD_PROC_STARTED, &body, err, sizeof err), ERR_INVALID);
	buf_release(&body);

	/* exit code over 32 bits. */
	packer_init(&pk, &body);
	pack_array(&pk, 4);
	pack_uint(&pk, 17);
	pack_uint(&pk, 1);
	pack_int(&pk, INT64_MIN);
	pack_int(&pk, 0);
	ck_assert_int_eq(decode_body(CMD_PROC_EXITED, &body, err, sizeof err), ERR_INVALID);
	buf_release(&body);
}
END_TEST

/* Packs a proc.submit body of `nfields` fields (argv ["x"], placement any);
 * the ninth is `count`. */
static void submit_body(struct buf *body, uint32_t nfields, uint64_t count)
{
	struct packer pk;

	body->len = 0;
	packer_init(&pk, body);
	pack_array(&pk, nfields);
	pack_array(&pk, 1);
	pack_cstr(&pk, "x");
	pack_map(&pk, 0);
	pack_cstr(&pk, "");
	pack_uint(&pk, PLACE_ANY);
	pack_cstr(&pk, "");
	pack_uint(&pk, RESTART_NO);
	pack_uint(&pk, 0);
	pack_uint(&pk, 0);
	if (nfields > 8)
		pack_uint(&pk, count);
	for (uint32_t i = 9; i < nfields; i++)
		pack_uint(&pk, 0);
	ck_assert_int_eq(pk.err, 0);
}

/* count is an optional ninth field of proc.submit: without it (the bodies of
 * before) it is 0; 0 is encoded without it, so a single submission has the
 * same bytes as before; 1..CMD_COUNT_MAX round-trip; more is rejected both
 * ways, and so is a count over "all" nodes. */
START_TEST(test_command_submit_count)
{
	struct buf body = {0}, b = {0}, b0 = {0};
	struct sample s;
	struct cmd d;
	char err[256];

	submit_body(&body, 8, 0);
	ck_assert_int_eq(decode_body(CMD_PROC_SUBMIT, &body, err, sizeof err), 0);
	submit_body(&body, 9, CMD_COUNT_MAX);
	ck_assert_int_eq(decode_body(CMD_PROC_SUBMIT, &body, err, sizeof err), 0);
	submit_body(&body, 9, CMD_COUNT_MAX + 1);
	ck_assert_int_eq(decode_body(CMD_PROC_SUBMIT, &body, err, sizeof err), ERR_INVALID);
	ck_assert_str_eq(err, "proc.submit: count is 10001, out of range 0..10000");
	submit_body(&body, 7, 0);
	ck_assert_int_eq(decode_body(CMD_PROC_SUBMIT, &body, err, sizeof err), ERR_INVALID);
	ck_assert_str_eq(err, "proc.submit: body has 7 fields, expected 8..9");
	submit_body(&body, 10, 2);
	ck_assert_int_eq(decode_body(CMD_PROC_SUBMIT, &body, err, sizeof err), ERR_INVALID);
	buf_release(&body);

	sample_init(&s, CMD_PROC_SUBMIT);
	ck_assert_int_eq(cmd_encode(&s.c, &b0), 0);
	s.c.u.submit.count = 2;
	round_trip(&s.c, &d, &b);
	ck_assert_uint_eq(d.u.submit.count, 2);
	ck_assert_uint_eq(b.len, b0.len + 1); /* one more small uint */
	b.len = 0;
	s.c.u.submit.count = CMD_COUNT_MAX;
	round_trip(&s.c, &d, &b);
	b.len = 0;
	s.c.u.submit.count = 0;
	round_trip(&s.c, &d, &b);
	ck_assert_uint_eq(b.len, b0.len);
	ck_assert_mem_eq(b.data, b0.data, b0.len); /* count 0: the bytes of before */
	b.len = 0;
	s.c.u.submit.count = CMD_COUNT_MAX + 1;
	ck_assert_int_eq(cmd_encode(&s.c, &b), ERR_INVALID);
	s.c.u.submit.count = 2;
	s.c.u.submit.placement = PLACE_ALL;
	s.c.u.submit.node = (struct strref){NULL, 0};
	ck_assert_int_eq(cmd_encode(&s.c, &b), ERR_INVALID);
	buf_release(&b);
	buf_release(&b0);
	sample_release(&s);
}
END_TEST

/* Decodes proc.submit with argv ["x"] and the env built by `env`. */
static int decode_env(void (*env)(struct packer *pk))
{
	struct buf body = {0};
	struct packer pk;
	char err[256];
	int rv;

	packer_init(&pk, &body);
	pack_array(&pk, 8);
	pack_array(&pk, 1);
	pack_cstr(&pk, "x");
	env(&pk);
	pack_cstr(&pk, "");
	pack_uint(&pk, PLACE_ANY);
	pack_cstr(&pk, "");
	pack_uint(&pk, RESTART_NO);
	pack_uint(&pk, 0);
	pack_uint(&pk, 0);
	rv = decode_body(CMD_PROC_SUBMIT, &body, err, sizeof err);
	buf_release(&body);
	return rv;
}

static void env_ok(struct packer *pk)
{
	pack_map(pk, 2);
	pack_cstr(pk, "A");
	pack_cstr(pk, "1");
	pack_cstr(pk, "B");
	pack_cstr(pk, "");
}
static void env_equals(struct packer *pk)
{
	pack_map(pk, 1);
	pack_cstr(pk, "A=B");
	pack_cstr(pk, "1");
}
static void env_empty_name(struct packer *pk)
{
	pack_map(pk, 1);
	pack_cstr(pk, "");
	pack_cstr(pk, "1");
}
static void env_twice(struct packer *pk)
{
	pack_map(pk, 3);
	pack_cstr(pk, "A");
	pack_cstr(pk, "1");
	pack_cstr(pk, "B");
	pack_cstr(pk, "1");
	pack_cstr(pk, "A");
	pack_cstr(pk, "2");
}
static void env_nul_value(struct packer *pk)
{
	pack_map(pk, 1);
	pack_cstr(pk, "A");
	pack_str(pk, "1\0", 2);
}
static void env_int_value(struct packer *pk)
{
	pack_map(pk, 1);
	pack_cstr(pk, "A");
	pack_uint(pk, 1);
}
static void env_nested_value(struct packer *pk)
{
	pack_map(pk, 1);
	pack_cstr(pk, "A");
	pack_map(pk, 0);
}
static void env_too_many(struct packer *pk)
{
	char name[8];
	int i;

	pack_map(pk, CMD_ENV_MAX + 1);
	for (i = 0; i < CMD_ENV_MAX + 1; i++) {
		snprintf(name, sizeof name, "V%d", i);
		pack_cstr(pk, name);
		pack_cstr(pk, "");
	}
}

START_TEST(test_command_env_validated)
{
	ck_assert_int_eq(decode_env(env_ok), 0);
	ck_assert_int_eq(decode_env(env_equals), ERR_INVALID);
	ck_assert_int_eq(decode_env(env_empty_name), ERR_INVALID);
	ck_assert_int_eq(decode_env(env_twice), ERR_INVALID);
	ck_assert_int_eq(decode_env(env_nul_value), ERR_INVALID);
	ck_assert_int_eq(decode_env(env_int_value), ERR_INVALID);
	ck_assert_int_eq(decode_env(env_nested_value), ERR_INVALID);
	ck_assert_int_eq(decode_env(env_too_many), ERR_TOOBIG);
}
END_TEST

START_TEST(test_command_nul_in_strings_rejected)
{
	struct buf raw = {0}, body = {0};
	struct packer pk;
	char err[256];
	struct cmd d;

	packer_init(&pk, &raw);
	pack_array(&pk, 9);
	pack_uint(&pk, 1);
	pack_uint(&pk, CMD_NOOP);
	pack_uint(&pk, 1);
	pack_uint(&pk, 1);
	pack_uint(&pk, 1);
	pack_uint(&pk, 1);
	pack_str(&pk, "a\0", 2);
	pack_nil(&pk);
	pack_array(&pk, 0);
	ck_assert_int_eq(decode_buf(&raw, &d), ERR_INVALID);
	buf_release(&raw);

	packer_init(&pk, &body);
	pack_array(&pk, 3);
	pack_uint(&pk, 1);
	pack_uint(&pk, 1);
	pack_str(&pk, "down\0", 5);
	ck_assert_int_eq(decode_body(CMD_PROC_LOST, &body, err, sizeof err), ERR_INVALID);
	buf_release(&body);

	packer_init(&pk, &body);
	pack_array(&pk, 8);
	pack_array(&pk, 1);
	pack_str(&pk, "x\0y", 3);
	pack_map(&pk, 0);
	pack_cstr(&pk, "");
	pack_uint(&pk, 0);
	pack_cstr(&pk, "");
	pack_uint(&pk, 0);
	pack_uint(&pk, 0);
	pack_uint(&pk, 0);
	ck_assert_int_eq(decode_body(CMD_PROC_SUBMIT, &body, err, sizeof err), ERR_INVALID);
	buf_release(&body);
}
END_TEST

Suite *command_suite(void)
{
	Suite *s = suite_create("command");
	TCase *tc = tcase_create("codec");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_command_type_names);
	tcase_add_test(tc, test_command_round_trips_every_type);
	tcase_add_test(tc, test_command_round_trips_extremes);
	tcase_add_test(tc, test_command_message_names_field_and_limit);
	tcase_add_test(tc, test_command_entry_round_trips);
	tcase_add_test(tc, test_command_entry_of_large_command);
	tcase_add_test(tc, test_command_entry_batch_limit);
	tcase_add_test(tc, test_command_entry_empty_rejected);
	tcase_add_test(tc, test_command_entry_framing_rejected);
	tcase_add_test(tc, test_command_entry_truncation_rejected);
	tcase_add_test(tc, test_command_truncation_rejected);
	tcase_add_test(tc, test_command_mutations_decode_within_limits_or_fail);
	tcase_add_test(tc, test_command_oversized_lengths_rejected);
	tcase_add_test(tc, test_command_deep_nesting_rejected);
	tcase_add_test(tc, test_command_wrong_types_rejected);
	tcase_add_test(tc, test_command_unknown_type_and_version_rejected);
	tcase_add_test(tc, test_command_trailing_bytes_rejected);
	tcase_add_test(tc, test_command_invalid_paths_rejected);
	tcase_add_test(tc, test_command_invalid_queue_names_rejected);
	tcase_add_test(tc, test_command_out_of_range_values_rejected);
	tcase_add_test(tc, test_command_out_of_range_values_not_decoded);
	tcase_add_test(tc, test_command_submit_count);
	tcase_add_test(tc, test_command_env_validated);
	tcase_add_test(tc, test_command_nul_in_strings_rejected);
	suite_add_tcase(s, tc);
	return s;
}
