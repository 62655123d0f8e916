/*
 * Tests of the file service (services/files.h): file.put creates a file at
 * version 1 and each put adds one, stamping the index and time; if_version
 * is a compare-and-set (-1 none, 0 must not exist, V must be at V); file.del
 * removes a file under the same condition and rejects an absent one; the row
 * decodes strictly; a directory lists by prefix scan. Each case gives initial
 * rows and a command and checks the exact delta and result.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <check.h>

#include "common/error.h"
#include "common/pack.h"
#include "services/files.h"
#include "services/service.h"
#include "tests/unit/services/memview.h"
#include "tests/unit/services/suites.h"

#define INDEX 200
#define TIME  1700000000000ull

static struct cmd put_cmd(const char *path, const char *data, int64_t if_version)
{
	struct cmd c;

	memset(&c, 0, sizeof c);
	c.version = CMD_VERSION;
	c.type = CMD_FILE_PUT;
	c.time_ms = TIME;
	c.origin = 1;
	c.u.put.path = memview_str(path);
	c.u.put.data.p = (const uint8_t *)data;
	c.u.put.data.n = strlen(data);
	c.u.put.if_version = if_version;
	return c;
}

static struct cmd del_cmd(const char *path, int64_t if_version)
{
	struct cmd c;

	memset(&c, 0, sizeof c);
	c.version = CMD_VERSION;
	c.type = CMD_FILE_DEL;
	c.time_ms = TIME;
	c.origin = 1;
	c.u.del.path = memview_str(path);
	c.u.del.if_version = if_version;
	return c;
}

static void set_file(struct memview *m, const char *path, uint64_t version, const char *data)
{
	struct file_row f = {version, 7, TIME - 1000, 0, {(const uint8_t *)data, strlen(data)}};
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(file_row_encode(&f, &b), 0);
	memview_set(m, TABLE_FILES, path, strlen(path), b.data, b.len);
	buf_release(&b);
}

static void check_file_put(const struct outcome *o, const char *path, uint64_t version,
			   uint64_t index, const char *data)
{
	struct delta_op op;
	struct file_row f;
	size_t pos = 0;

	ck_assert_uint_eq(o->delta.count, 1);
	ck_assert_int_eq(delta_next(&o->delta, &pos, &op), 0);
	ck_assert_int_eq(op.kind, DELTA_PUT);
	ck_assert_int_eq(op.table, TABLE_FILES);
	ck_assert_uint_eq(op.klen, strlen(path));
	ck_assert_mem_eq(op.key, path, op.klen);
	ck_assert_int_eq(file_row_decode(op.val, op.vlen, &f), 0);
	ck_assert_uint_eq(f.version, version);
	ck_assert_uint_eq(f.modified_index, index);
	ck_assert_uint_eq(f.modified_ms, TIME);
	ck_assert_uint_eq(f.size, strlen(data));
	ck_assert_uint_eq(f.data.n, strlen(data));
	ck_assert_mem_eq(f.data.p, data, f.data.n);
	ck_assert_int_eq(delta_next(&o->delta, &pos, &op), ERR_NOTFOUND);
}

static void check_file_del(const struct outcome *o, const char *path)
{
	struct delta_op op;
	size_t pos = 0;

	ck_assert_uint_eq(o->delta.count, 1);
	ck_assert_int_eq(delta_next(&o->delta, &pos, &op), 0);
	ck_assert_int_eq(op.kind, DELTA_DEL);
	ck_assert_int_eq(op.table, TABLE_FILES);
	ck_assert_uint_eq(op.klen, strlen(path));
	ck_assert_mem_eq(op.key, path, op.klen);
	ck_assert_int_eq(delta_next(&o->delta, &pos, &op), ERR_NOTFOUND);
}

/* An accepted put or del answers {"version": V}. */
static void check_version_result(const struct outcome *o, uint64_t version)
{
	struct unpacker u;
	const char *k;
	size_t klen;
	uint64_t v;
	uint32_t n;

	ck_assert_int_eq(o->code, 0);
	ck_assert_str_eq(o->message, "");
	ck_assert_uint_eq(effects_count(&o->effects), 0);
	unpacker_init(&u, o->result.data, o->result.len);
	ck_assert_int_eq(unpack_map(&u, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(unpack_str(&u, &k, &klen), 0);
	ck_assert_uint_eq(klen, 7);
	ck_assert_mem_eq(k, "version", 7);
	ck_assert_int_eq(unpack_uint(&u, &v), 0);
	ck_assert_uint_eq(v, version);
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

START_TEST(test_files_put)
{
	static const struct {
		uint64_t version; /* of the existing file, 0: absent */
		int64_t if_version;
		int code;
		const char *message;
		uint64_t new_version;
	} cases[] = {
		{0, -1, 0, "", 1},
		{0, 0, 0, "", 1},
		{0, 2, ERR_CONFLICT, "'/etc/app.conf' does not exist (expected version 2)", 0},
		{3, -1, 0, "", 4},
		{3, 3, 0, "", 4},
		{3, 0, ERR_CONFLICT, "'/etc/app.conf' exists at version 3", 0},
		{3, 2, ERR_CONFLICT, "'/etc/app.conf' is at version 3, not 2", 0},
		{3, 4, ERR_CONFLICT, "'/etc/app.conf' is at version 3, not 4", 0},
		{0, -2, ERR_INVALID, "invalid version -2 for '/etc/app.conf'", 0},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct memview m;
		struct outcome o;
		struct cmd c = put_cmd("/etc/app.conf", "port=80\n", cases[i].if_version);

		memview_init(&m, INDEX);
		outcome_init(&o);
		if (cases[i].version != 0)
			set_file(&m, "/etc/app.conf", cases[i].version, "old");
		ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
		if (cases[i].code != 0) {
			check_rejected(&o, cases[i].code, cases[i].message);
		} else {
			check_version_result(&o, cases[i].new_version);
			check_file_put(&o, "/etc/app.conf", cases[i].new_version, INDEX,
				       "port=80\n");
		}
		outcome_release(&o);
		memview_release(&m);
	}
}
END_TEST

/* Successive puts go 1, 2, 3, each stamping its own index; a file deleted and
 * created again starts over at 1. */
START_TEST(test_files_put_versions)
{
	static const char *const contents[] = {"a", "", "ccc"};
	struct memview m;
	struct outcome o;
	struct cmd c;

	memview_init(&m, INDEX);
	outcome_init(&o);
	for (uint64_t i = 0; i < 3; i++) {
		c = put_cmd("/a", contents[i], -1);
		ck_assert_int_eq(memview_run(&m, &c, &o), 0);
		check_version_result(&o, i + 1);
		check_file_put(&o, "/a", i + 1, INDEX + i, contents[i]);
	}
	c = del_cmd("/a", 3);
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	check_version_result(&o, 3);
	ck_assert_uint_eq(m.n[TABLE_FILES], 0);
	c = put_cmd("/a", "new", 0);
	ck_assert_int_eq(memview_run(&m, &c, &o), 0);
	check_version_result(&o, 1);
	check_file_put(&o, "/a", 1, INDEX + 4, "new");
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

START_TEST(test_files_del)
{
	static const struct {
		uint64_t version; /* of the existing file, 0: absent */
		int64_t if_version;
		int code;
		const char *message;
	} cases[] = {
		{0, -1, ERR_NOTFOUND, "'/a/b' does not exist"},
		{0, 0, ERR_NOTFOUND, "'/a/b' does not exist"},
		{0, 1, ERR_NOTFOUND, "'/a/b' does not exist"},
		{3, -1, 0, ""},
		{3, 3, 0, ""},
		{3, 2, ERR_CONFLICT, "'/a/b' is at version 3, not 2"},
		{3, 0, ERR_CONFLICT, "'/a/b' exists at version 3"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct memview m;
		struct outcome o;
		struct cmd c = del_cmd("/a/b", cases[i].if_version);

		memview_init(&m, INDEX);
		outcome_init(&o);
		/* Neighbours that a prefix match would confuse with /a/b. */
		set_file(&m, "/a/bc", 1, "x");
		set_file(&m, "/a/b/c", 1, "y");
		if (cases[i].version != 0)
			set_file(&m, "/a/b", cases[i].version, "old");
		ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
		if (cases[i].code != 0) {
			check_rejected(&o, cases[i].code, cases[i].message);
		} else {
			check_version_result(&o, cases[i].version);
			check_file_del(&o, "/a/b");
		}
		outcome_release(&o);
		memview_release(&m);
	}
}
END_TEST

START_TEST(test_files_path_not_absolute)
{
	struct memview m;
	struct outcome o;
	struct cmd c = put_cmd("etc/x", "x", -1);

	memview_init(&m, INDEX);
	outcome_init(&o);
	ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
	check_rejected(&o, ERR_INVALID, "invalid path 'etc/x': not absolute");
	c = del_cmd("", -1);
	ck_assert_int_eq(service_apply(&m.view, &c, &o), 0);
	check_rejected(&o, ERR_INVALID, "invalid path '': not absolute");
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

START_TEST(test_files_corrupt_row)
{
	static const uint8_t bad[] = {0x92, 0x01, 0x02};
	struct memview m;
	struct outcome o;
	struct cmd c = put_cmd("/a", "x", -1);

	memview_init(&m, INDEX);
	outcome_init(&o);
	memview_set(&m, TABLE_FILES, "/a", 2, bad, sizeof bad);
	ck_assert_int_eq(service_apply(&m.view, &c, &o), ERR_CORRUPT);
	c = del_cmd("/a", -1);
	ck_assert_int_eq(service_apply(&m.view, &c, &o), ERR_CORRUPT);
	outcome_release(&o);
	memview_release(&m);
}
END_TEST

START_TEST(test_files_row_decode)
{
	static const struct {
		const char *what;
		const char *val;
		size_t len;
		int rv;
	} cases[] = {
		{"row", "\x95\x02\x0a\x0b\x01\xc4\x01x", 8, 0},
		{"row, extra field", "\x96\x02\x0a\x0b\x01\xc4\x01x\xc0", 9, 0},
		{"empty", "", 0, ERR_CORRUPT},
		{"map", "\x80", 1, ERR_CORRUPT},
		{"4 fields", "\x94\x02\x0a\x0b\x01", 5, ERR_CORRUPT},
		{"version 0", "\x95\x00\x0a\x0b\x01\xc4\x01x", 8, ERR_CORRUPT},
		{"size mismatch", "\x95\x02\x0a\x0b\x02\xc4\x01x", 8, ERR_CORRUPT},
		{"data as str", "\x95\x02\x0a\x0b\x01\xa1x", 7, ERR_CORRUPT},
		{"truncated data", "\x95\x02\x0a\x0b\x01\xc4\x02x", 8, ERR_CORRUPT},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct file_row f;

		ck_assert_msg(file_row_decode(cases[i].val, cases[i].len, &f) == cases[i].rv, "%s",
			      cases[i].what);
		if (cases[i].rv == 0) {
			ck_assert_uint_eq(f.version, 2);
			ck_assert_uint_eq(f.modified_index, 10);
			ck_assert_uint_eq(f.modified_ms, 11);
			ck_assert_uint_eq(f.size, 1);
			ck_assert_mem_eq(f.data.p, "x", 1);
		}
	}
}
END_TEST

static int collect(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	char *out = arg;

	strncat(out, key, klen);
	strcat(out, " ");
	return 0;
}

/* The listing files.h documents: the prefix "D/" finds everything under D,
 * in path order, and nothing beside it. */
START_TEST(test_files_list_by_prefix)
{
	static const char *const paths[] = {"/etc2", "/etc/b", "/etc", "/etc/a/x", "/e", "/etc/a"};
	struct memview m;
	char out[128] = "";

	memview_init(&m, INDEX);
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		set_file(&m, paths[i], 1, "x");
	ck_assert_int_eq(m.view.scan(&m.view, TABLE_FILES, "/etc/", 5, collect, out), 0);
	ck_assert_str_eq(out, "/etc/a /etc/a/x /etc/b ");
	memview_release(&m);
}
END_TEST

Suite *files_suite(void)
{
	Suite *s = suite_create("files");
	TCase *tc = tcase_create("transitions");

	tcase_add_test(tc, test_files_put);
	tcase_add_test(tc, test_files_put_versions);
	tcase_add_test(tc, test_files_del);
	tcase_add_test(tc, test_files_path_not_absolute);
	tcase_add_test(tc, test_files_corrupt_row);
	suite_add_tcase(s, tc);

	tc = tcase_create("rows");
	tcase_add_test(tc, test_files_row_decode);
	tcase_add_test(tc, test_files_list_by_prefix);
	suite_add_tcase(s, tc);
	return s;
}
