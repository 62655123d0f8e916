/*
 * Tests of the step service (services/steps.h): step.record stores a step's
 * outcome for an existing process; the first record of a step wins and every
 * later one is accepted unchanged and answered with the recorded outcome
 * (the replay of durable execution, DESIGN §5); a step of an unknown process
 * is rejected; the row decodes strictly. Each case gives initial rows and a
 * command and checks the exact delta and result.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <check.h>

#include "common/error.h"
#include "common/pack.h"
#include "services/proc.h"
#include "services/service.h"
#include "services/steps.h"
#include "tests/unit/services/memview.h"
#include "tests/unit/services/suites.h"

#define INDEX 300
#define TIME  1700000000000ull

static struct cmd record_cmd(uint64_t pid, uint32_t attempt, const char *name, int32_t exit_code,
			     const char *output)
{
	struct cmd c;

	memset(&c, 0, sizeof c);
	c.version = CMD_VERSION;
	c.type = CMD_STEP_RECORD;
	c.time_ms = TIME;
	c.origin = 2;
	c.u.step.pid = pid;
	c.u.step.attempt = attempt;
	c.u.step.name = memview_str(name);
	c.u.step.exit_code = exit_code;
	c.u.step.output.p = (const uint8_t *)output;
	c.u.step.output.n = strlen(output);
	return c;
}

/* The proc row's format belongs to the proc service; the step service only
 * looks for its key, so any value will do. */
static void set_proc(struct memview *m, uint64_t pid)
{
	uint8_t key[PROC_KEY_LEN];

	proc_key(key, pid);
	memview_set(m, TABLE_PROCS, key, sizeof key, "\xc0", 1);
}

static void set_step(struct memview *m, uint64_t pid, const char *name, int32_t exit_code,
		     const char *output, uint32_t attempt)
{
	struct step_row r = {
		exit_code, {(const uint8_t *)output, strlen(output)}, attempt, TIME - 5};
	uint8_t key[STEP_KEY_MAX];
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(step_row_encode(&r, &b), 0);
	memview_set(m, TABLE_STEPS, key, step_key(key, pid, name, strlen(name)), b.data, b.len);
	buf_release(&b);
}

static void check_step_put(const struct outcome *o, uint64_t pid, const char *name,
			   int32_t exit_code, const char *output, uint32_t attempt)
{
	struct delta_op op;
	struct step_row r;
	struct strref kname;
	uint64_t kpid;
	size_t pos = 0;

	ck_assert_uint_eq(o->delta.count, 1);
	ck_assert_int_eq(delta_next(&o->delta, &pos, &op), 0);
	ck_assert_int_eq(op.kind, DELTA_PUT);
	ck_assert_int_eq(op.table, TABLE_STEPS);
	ck_assert_int_eq(step_key_decode(op.key, op.klen, &kpid, &kname), 0);
	ck_assert_uint_eq(kpid, pid);
	ck_assert_uint_eq(kname.n, strlen(name));
	ck_assert_mem_eq(kname.p, name, kname.n);
	ck_assert_int_eq(step_row_decode(op.val, op.vlen, &r), 0);
	ck_assert_int_eq(r.exit_code, exit_code);
	ck_assert_uint_eq(r.output.n, strlen(output));
	ck_assert_mem_eq(r.output.p, output, r.output.n);
	ck_assert_uint_eq(r.attempt, attempt);
	ck_assert_uint_eq(r.recorded_ms, TIME);
	ck_assert_int_eq(delta_next(&o->delta, &pos, &op), ERR_NOTFOUND);
}

static void check_key(struct unpacker *u, const char *key)
{
	const char *k;
	size_t n;

	ck_assert_int_eq(unpack_str(u, &k, &n), 0);
	ck_assert_uint_eq(n, strlen(key));
	ck_assert_mem_eq(k, key, n);
}

/* {"replayed": false} */
static void check_recorded_result(const struct outcome *o)
{
	struct unpacker u;
	uint32_t n;
	bool replayed;

	ck_assert_int_eq(o->code, 0);
	ck_assert_uint_eq(effects_count(&o->effects), 0);
	unpacker_init(&u, o->result.data, o->result.len);
	ck_assert_int_eq(unpack_map(&u, &n), 0);
	ck_assert_uint_eq(n, 1);
	check_key(&u, "replayed");
	ck_assert_int_eq(unpack_bool(&u, &replayed), 0);
	ck_assert(!replayed);
	ck_assert_uint_eq(unpack_left(&u), 0);
}

/* {"exit_code", "output", "attempt", "replayed": true}, and no write. */
static void check_replayed_result(const struct outcome *o, int32_t exit_code, const char *output,
				  uint32_t attempt)
{
	struct unpacker u;
	const void *out;
	size_t outlen;
	int64_t code;
	uint64_t att;
	uint32_t n;
	bool replayed;

	ck_assert_int_eq(o->code, 0);
	ck_assert_uint_eq(o->delta.count, 0);
	ck_assert_uint_eq(effects_count(&o->effects), 0);
	unpacker_init(&u, o->result.data, o->result.len);
	ck_assert_int_eq(unpack_map(&u, &n), 0);
	ck_assert_uint_eq(n, 4);
	check_key(&u, "exit_code");
	ck_assert_int_eq(unpack_int(&u, &code), 0);
	ck_assert_int_eq(code, exit_code);
	check_key(&u, "output");
	ck_assert_int_eq(unpack_bin(&u, &out, &outlen), 0);
	ck_assert_uint_eq(outlen, strlen(output));
	ck_assert_mem_eq(out, output, outlen);
	check_key(&u, "attempt");
	ck_assert_int_eq(unpack_uint(&u, &att), 0);
	ck_assert_uint_eq(att, attempt);
	check_key(&u, "replayed");
	ck_assert_int_eq(unpack_bool(&u, &replayed), 0);
	ck_assert(replayed);
	ck_assert_uint_eq(unpack_left(&u), 0);
}

START_TEST(test_steps_record)
{
	static const struct {
		uint64_t pid;
		uint32_t attempt;
		const char *name;
		int32_t exit_code;
		const char *output;
	} cases[] = {
		{42, 1, "fetch", 0, "downloaded 3 files\n"},
		{42, 2, "build", -1, ""},
		{UINT64_MAX, 7, "x", 127, "not found"},
		/* A step of another process with the same name is its own. */
		{43, 1, "fetch", 1, "failed"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct memview m;
		struct outcome o;
		struct cmd c = record_cmd(cases[i].pid, cases[i].attempt, cases[i].name,
					  cases[i].exit_code, cases[i].output);

		memview_init(&m, INDEX);
		outcome_init(&o);
		set_proc(&m, cases[i].pid);
		set_proc(&m, 42);
		/* Steps of pid 42 that must not be mistaken for this one. */
		set_step(&m, 42, "fetch2", 0, "other", 1);
		set_step(&m, 42, "fetc", 0, "other", 1);
		if (cases[i].pid != 42)
			set_step(&m, 42, cases[i].name, 0, "other", 1);
		ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
		check_recorded_result(&o);
		check_step_put(&o, cases[i].pid, cases[i].name, cases[i].exit_code, cases[i].output,
			       cases[i].attempt);
		outcome_release(&o);
		memview_release(&m);
	}
}
END_TEST

START_TEST(test_steps_first_record_wins)
{
	static const struct {
		uint32_t attempt;
		int32_t exit_code;
		const char *output;
	} later[] = {
		{1, 0, "first"},  /* the same record again */
		{2, 1, "second"}, /* a restarted attempt that ran it again */
		{3, 0, ""},
	};

	for (size_t i = 0; i < sizeof later / sizeof later[0]; i++) {
		struct memview m;
		struct outcome o;
		struct cmd c = record_cmd(42, later[i].attempt, "fetch", later[i].exit_code,
					  later[i].output);

		memview_init(&m, INDEX);
		outcome_init(&o);
		set_proc(&m, 42);
		set_step(&m, 42, "fetch", 0, "first", 1);
		ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
		check_replayed_result(&o, 0, "first", 1);
		outcome_release(&o);
		memview_release(&m);
	}
}
END_TEST

/* A script restarted after a failure: its second attempt replays the steps
 * the first completed and records the ones it did not. */
START_TEST(test_steps_restart_replays)
{
	struct memview m;
	struct outcome o;
	struct cmd c;

	memview_init(&m, INDEX);
	outcome_init(&o);
	set_proc(&m, 9);
	c = record_cmd(9, 1, "one", 0, "1\n");
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	check_recorded_result(&o);
	c = record_cmd(9, 2, "one", 3, "again\n");
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	check_replayed_result(&o, 0, "1\n", 1);
	c = record_cmd(9, 2, "two", 5, "2\n");
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	check_recorded_result(&o);
	check_step_put(&o, 9, "two", 5, "2\n", 2);
	ck_assert_uint_eq(m.n[TABLE_STEPS], 2);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

START_TEST(test_steps_unknown_pid)
{
	struct memview m;
	struct outcome o;
	struct cmd c = record_cmd(7, 1, "fetch", 0, "x");

	memview_init(&m, INDEX);
	outcome_init(&o);
	set_proc(&m, 6);
	set_proc(&m, 8);
	/* A step row without its process still does not make it exist. */
	set_step(&m, 7, "fetch", 0, "x", 1);
	ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
	ck_assert_int_eq(o.code, ERR_NOTFOUND);
	ck_assert_str_eq(o.message, "no process 7");
	ck_assert_uint_eq(o.delta.count, 0);
	ck_assert_uint_eq(o.result.len, 0);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

START_TEST(test_steps_invalid_name)
{
	struct memview m;
	struct outcome o;
	struct cmd c = record_cmd(42, 1, "", 0, "x");

	memview_init(&m, INDEX);
	outcome_init(&o);
	set_proc(&m, 42);
	ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
	ck_assert_int_eq(o.code, ERR_INVALID);
	ck_assert_str_eq(o.message, "invalid step name '' for process 42");
	ck_assert_uint_eq(o.delta.count, 0);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

START_TEST(test_steps_corrupt_row)
{
	static const uint8_t bad[] = {0x94, 0x00, 0xa1, 'x', 0x01, 0x02}; /* output as str */
	struct memview m;
	struct outcome o;
	struct cmd c = record_cmd(42, 1, "fetch", 0, "x");
	uint8_t key[STEP_KEY_MAX];

	memview_init(&m, INDEX);
	outcome_init(&o);
	set_proc(&m, 42);
	memview_set(&m, TABLE_STEPS, key, step_key(key, 42, "fetch", 5), bad, sizeof bad);
	ck_assert_int_eq(service_apply(&m.view, &c, &o), ERR_CORRUPT);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

START_TEST(test_steps_row_decode)
{
	static const struct {
		const char *what;
		const char *val;
		size_t len;
		int rv;
	} cases[] = {
		{"row", "\x94\xff\xc4\x01x\x02\x03", 7, 0},
		{"row, extra field", "\x95\xff\xc4\x01x\x02\x03\xc0", 8, 0},
		{"empty", "", 0, ERR_CORRUPT},
		{"3 fields", "\x93\xff\xc4\x01x\x02", 6, ERR_CORRUPT},
		{"exit code too big", "\x94\xce\x80\x00\x00\x00\xc4\x01x\x02\x03", 11, ERR_CORRUPT},
		{"attempt too big", "\x94\xff\xc4\x01x\xcf\x00\x00\x00\x01\x00\x00\x00\x00\x03", 15,
		 ERR_CORRUPT},
		{"negative attempt", "\x94\xff\xc4\x01x\xff\x03", 7, ERR_CORRUPT},
		{"truncated output", "\x94\xff\xc4\x05x\x02\x03", 7, ERR_CORRUPT},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct step_row r;

		ck_assert_msg(step_row_decode(cases[i].val, cases[i].len, &r) == cases[i].rv, "%s",
			      cases[i].what);
		if (cases[i].rv == 0) {
			ck_assert_int_eq(r.exit_code, -1);
			ck_assert_uint_eq(r.output.n, 1);
			ck_assert_mem_eq(r.output.p, "x", 1);
			ck_assert_uint_eq(r.attempt, 2);
			ck_assert_uint_eq(r.recorded_ms, 3);
		}
	}
}
END_TEST

START_TEST(test_steps_key)
{
	uint8_t key[STEP_KEY_MAX];
	struct strref name;
	uint64_t pid;
	size_t klen = step_key(key, 0x0102030405060708ull, "go", 2);

	ck_assert_uint_eq(klen, 10);
	ck_assert_mem_eq(key, "\x01\x02\x03\x04\x05\x06\x07\x08go", 10);
	ck_assert_int_eq(step_key_decode(key, klen, &pid, &name), 0);
	ck_assert_uint_eq(pid, 0x0102030405060708ull);
	ck_assert_uint_eq(name.n, 2);
	ck_assert_mem_eq(name.p, "go", 2);
	ck_assert_int_eq(step_key_decode(key, 8, &pid, &name), ERR_CORRUPT);
}
END_TEST

Suite *steps_suite(void)
{
	Suite *s = suite_create("steps");
	TCase *tc = tcase_create("transitions");

	tcase_add_test(tc, test_steps_record);
	tcase_add_test(tc, test_steps_first_record_wins);
	tcase_add_test(tc, test_steps_restart_replays);
	tcase_add_test(tc, test_steps_unknown_pid);
	tcase_add_test(tc, test_steps_invalid_name);
	tcase_add_test(tc, test_steps_corrupt_row);
	suite_add_tcase(s, tc);

	tc = tcase_create("rows");
	tcase_add_test(tc, test_steps_row_decode);
	tcase_add_test(tc, test_steps_key);
	suite_add_tcase(s, tc);
	return s;
}
