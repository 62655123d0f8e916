/*
 * Tests of statestore/store.h, one behaviour each: writes and point reads,
 * reads and scans as of past (and skipped) indexes, the readable range,
 * unversioned tables, key limits and keys with zero bytes (the history key
 * escape), atomicity of an index (callback errors, a full map, a crash before
 * commit), growth of the map, rewind and compaction, the digest, and reopening.
 * Every store lives in a checked fixture or in the test itself.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <lmdb.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/hash.h"
#include "statestore/store.h"
#include "tests/unit/statestore/helpers.h"
#include "tests/unit/statestore/suites.h"

static struct fixture fx;
static struct buf out;

/* An array as (pointer, length). */
#define KB(arr) (const void *)(arr), sizeof(arr)

/* A checked fixture: the store is created in the test's own process. */
static void setup(void)
{
	fixture_init(&fx);
	fixture_open(&fx, NULL);
	buf_init(&out);
}

/* Only the directory, for tests that open (or fork before opening) a store. */
static void setup_dir(void)
{
	fixture_init(&fx);
	buf_init(&out);
}

static void teardown(void)
{
	buf_release(&out);
	fixture_release(&fx);
}

#define assert_ok(expr)                                                                    \
	do {                                                                               \
		int rc_ = (expr);                                                          \
		ck_assert_msg(rc_ == 0, "%s: %s (%s)", #expr, err_name(rc_), fx.s.errmsg); \
	} while (0)

/* Asserts that read_get() at `at` gives `want` (NULL: not found). */
#define assert_get(table, key, at, want)                                                       \
	do {                                                                                   \
		const char *want_ = (want);                                                    \
		int rc_ = read_get(&fx.s, (table), key, (at), &out);                           \
		if (want_ == NULL) {                                                           \
			ck_assert_msg(rc_ == ERR_NOTFOUND,                                     \
				      "get %s at %llu: %s '%s', expected notfound", #key,      \
				      (unsigned long long)(at), err_name(rc_), buf_str(&out)); \
		} else {                                                                       \
			ck_assert_msg(rc_ == 0, "get %s at %llu: %s (%s)", #key,               \
				      (unsigned long long)(at), err_name(rc_), fx.s.errmsg);   \
			ck_assert_str_eq(buf_str(&out), want_);                                \
		}                                                                              \
	} while (0)

/* Asserts the rendering of a whole-table scan at `at`. */
#define assert_scan(table, at, want)                                                \
	do {                                                                        \
		assert_ok(read_scan(&fx.s, (table), NULL, 0, NULL, 0, (at), &out)); \
		ck_assert_str_eq(buf_str(&out), (want));                            \
	} while (0)

static struct hash128 zero_digest(void)
{
	struct hash128 d = {0, 0};

	return d;
}

static void assert_digest_eq(struct hash128 got, struct hash128 want)
{
	char g[33], w[33];

	digest_hex(got, g);
	digest_hex(want, w);
	ck_assert_str_eq(g, w);
}

static struct hash128 digest_at(uint64_t at)
{
	struct hash128 d;

	assert_ok(read_digest(&fx.s, at, &d));
	return d;
}

/* Sums the row hashes of every versioned row as of `at`, scanning the store:
 * what the digest at `at` must be. */
static struct hash128 recompute_digest(uint64_t at)
{
	struct hash128 d = {0, 0};
	struct store_txn t;
	struct store_iter it;
	const void *k, *v;
	size_t klen, vlen;
	int table, rc;

	assert_ok(store_read(&fx.s, &t));
	for (table = 0; table < STORE_N_VERSIONED; table++) {
		assert_ok(store_iter_init(&it, &t, table, NULL, 0, at));
		while ((rc = store_iter_next(&it, &k, &klen, &v, &vlen)) == 0)
			d = digest_add(d, test_row_hash(table, k, klen, v, vlen));
		ck_assert_int_eq(rc, ERR_NOTFOUND);
		store_iter_close(&it);
	}
	store_read_end(&t);
	return d;
}

START_TEST(test_store_open_is_empty)
{
	struct hash128 d;

	ck_assert_uint_eq(store_applied_index(&fx.s), 0);
	ck_assert_uint_eq(store_oldest_index(&fx.s), 0);
	assert_digest_eq(store_digest(&fx.s), zero_digest());
	assert_get(STORE_PROCS, K("a"), STORE_AT_LATEST, NULL);
	assert_get(STORE_PROCS, K("a"), 0, NULL);
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "");
	ck_assert_int_eq(read_digest(&fx.s, 0, &d), 0);
	assert_digest_eq(d, zero_digest());
	ck_assert_int_eq(read_get(&fx.s, STORE_PROCS, K("a"), 1, &out), ERR_RANGE);
	ck_assert_ptr_nonnull(strstr(fx.s.errmsg, "readable: 0..0"));
}
END_TEST

START_TEST(test_store_put_get_del)
{
	assert_ok(apply_put(&fx.s, 1, STORE_PROCS, K("a"), K("1")));
	ck_assert_uint_eq(store_applied_index(&fx.s), 1);
	assert_get(STORE_PROCS, K("a"), STORE_AT_LATEST, "1");
	assert_get(STORE_PROCS, K("a"), 1, "1");
	/* Tables are separate key spaces. */
	assert_get(STORE_NODES, K("a"), STORE_AT_LATEST, NULL);
	assert_get(STORE_OUTPUT, K("a"), STORE_AT_LATEST, NULL);

	assert_ok(apply_put(&fx.s, 2, STORE_PROCS, K("b"), K("2")));
	assert_ok(apply_put(&fx.s, 3, STORE_PROCS, K("b"), K("22")));
	assert_ok(apply_del(&fx.s, 4, STORE_PROCS, K("a")));
	ck_assert_uint_eq(store_applied_index(&fx.s), 4);
	assert_get(STORE_PROCS, K("a"), STORE_AT_LATEST, NULL);
	assert_get(STORE_PROCS, K("b"), STORE_AT_LATEST, "22");
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "b=22");
}
END_TEST

START_TEST(test_store_get_at_past_indexes)
{
	static const char *const want_a[] = {NULL, "1", "2", NULL, "4"};
	static const char *const want_b[] = {NULL, NULL, "1", "1", "1"};
	struct op two[] = {
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .val = "2",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "b",
		 .klen = 1,
		 .val = "1",
		 .vlen = 1},
	};
	uint64_t at;

	assert_ok(apply_put(&fx.s, 1, STORE_PROCS, K("a"), K("1")));
	assert_ok(apply_ops(&fx.s, 2, two, 2));
	assert_ok(apply_del(&fx.s, 3, STORE_PROCS, K("a")));
	assert_ok(apply_put(&fx.s, 4, STORE_PROCS, K("a"), K("4")));
	for (at = 0; at <= 4; at++) {
		assert_get(STORE_PROCS, K("a"), at, want_a[at]);
		assert_get(STORE_PROCS, K("b"), at, want_b[at]);
	}
}
END_TEST

START_TEST(test_store_get_at_skipped_index_sees_last_applied)
{
	struct hash128 d2, d5;
	uint64_t at;

	assert_ok(apply_put(&fx.s, 2, STORE_PROCS, K("a"), K("1")));
	d2 = store_digest(&fx.s);
	assert_ok(apply_put(&fx.s, 5, STORE_PROCS, K("a"), K("2")));
	d5 = store_digest(&fx.s);
	assert_ok(apply_del(&fx.s, 9, STORE_PROCS, K("a")));
	ck_assert_uint_eq(store_applied_index(&fx.s), 9);
	for (at = 0; at <= 9; at++) {
		const char *want = at < 2 ? NULL : at < 5 ? "1" : at < 9 ? "2" : NULL;
		struct hash128 d = at < 2   ? zero_digest()
				   : at < 5 ? d2
				   : at < 9 ? d5
					    : zero_digest();

		assert_get(STORE_PROCS, K("a"), at, want);
		assert_scan(STORE_PROCS, at, want == NULL ? "" : at < 5 ? "a=1" : "a=2");
		assert_digest_eq(digest_at(at), d);
	}
}
END_TEST

static void put_rows(uint64_t index, int table, const char *const *kv, size_t n)
{
	struct op ops[16];
	size_t i;

	ck_assert_uint_le(n, 16);
	for (i = 0; i < n; i++) {
		memset(&ops[i], 0, sizeof ops[i]);
		ops[i].kind = OP_PUT;
		ops[i].table = table;
		ops[i].key = kv[2 * i];
		ops[i].klen = strlen(kv[2 * i]);
		ops[i].val = kv[2 * i + 1];
		ops[i].vlen = strlen(kv[2 * i + 1]);
	}
	assert_ok(apply_ops(&fx.s, index, ops, n));
}

START_TEST(test_store_scan_prefix_and_seek)
{
	static const char *const rows[] = {"a", "1", "ab", "2", "abc", "3",
					   "b", "4", "ba", "5", "c",   "6"};
	static const struct {
		const char *prefix, *seek, *want;
	} cases[] = {
		{"", NULL, "a=1 ab=2 abc=3 b=4 ba=5 c=6"},
		{"a", NULL, "a=1 ab=2 abc=3"},
		{"ab", NULL, "ab=2 abc=3"},
		{"b", NULL, "b=4 ba=5"},
		{"abcd", NULL, ""},
		{"d", NULL, ""},
		{"", "ab", "ab=2 abc=3 b=4 ba=5 c=6"},
		{"", "aa", "ab=2 abc=3 b=4 ba=5 c=6"},
		{"", "bb", "c=6"},
		{"", "d", ""},
		{"a", "", "a=1 ab=2 abc=3"},
		{"a", "ab", "ab=2 abc=3"},
		{"a", "abd", ""},
		{"b", "a", "b=4 ba=5"}, /* A seek before the prefix starts at it. */
		{"b", "c", ""},
	};
	size_t i;

	put_rows(1, STORE_PROCS, rows, 6);
	/* Neighbouring tables must not leak into the scan. */
	assert_ok(apply_put(&fx.s, 2, STORE_NODES, K("a0"), K("x")));
	assert_ok(apply_put(&fx.s, 3, STORE_OUTPUT, K("ab0"), K("y")));
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *seek = cases[i].seek;

		assert_ok(read_scan(&fx.s, STORE_PROCS, cases[i].prefix, strlen(cases[i].prefix),
				    seek, seek != NULL ? strlen(seek) : 0, STORE_AT_LATEST, &out));
		ck_assert_msg(strcmp(buf_str(&out), cases[i].want) == 0,
			      "prefix '%s' seek '%s': got '%s', expected '%s'", cases[i].prefix,
			      seek != NULL ? seek : "(none)", buf_str(&out), cases[i].want);
	}
}
END_TEST

/* Seeking again mid-scan (also backwards, also at a past index) restarts there. */
START_TEST(test_store_iter_seek_repositions)
{
	static const char *const rows[] = {"a", "1", "b", "2", "c", "3"};
	struct store_txn t;
	struct store_iter it;
	const void *k, *v;
	size_t klen, vlen;
	uint64_t at;

	put_rows(1, STORE_PROCS, rows, 3);
	assert_ok(apply_del(&fx.s, 2, STORE_PROCS, K("b")));
	for (at = 1; at <= 2; at++) {
		assert_ok(store_read(&fx.s, &t));
		assert_ok(store_iter_init(&it, &t, STORE_PROCS, NULL, 0, at));
		assert_ok(store_iter_next(&it, &k, &klen, &v, &vlen));
		ck_assert_mem_eq(k, "a", 1);
		assert_ok(store_iter_next(&it, &k, &klen, &v, &vlen));
		ck_assert_mem_eq(k, at == 1 ? "b" : "c", 1);
		assert_ok(store_iter_seek(&it, K("a")));
		assert_ok(store_iter_next(&it, &k, &klen, &v, &vlen));
		ck_assert_uint_eq(klen, 1);
		ck_assert_mem_eq(k, "a", 1);
		ck_assert_mem_eq(v, "1", 1);
		assert_ok(store_iter_seek(&it, K("c")));
		assert_ok(store_iter_next(&it, &k, &klen, &v, &vlen));
		ck_assert_mem_eq(k, "c", 1);
		ck_assert_int_eq(store_iter_next(&it, &k, &klen, &v, &vlen), ERR_NOTFOUND);
		ck_assert_int_eq(store_iter_next(&it, &k, &klen, &v, &vlen), ERR_NOTFOUND);
		store_iter_close(&it);
		store_read_end(&t);
	}
}
END_TEST

START_TEST(test_store_scan_at_past_index)
{
	static const char *const one[] = {"a", "1", "b", "1", "c", "1"};
	struct op two[] = {
		{.kind = OP_DEL, .table = STORE_PROCS, .key = "b", .klen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "c",
		 .klen = 1,
		 .val = "2",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "d",
		 .klen = 1,
		 .val = "2",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_NODES,
		 .key = "n",
		 .klen = 1,
		 .val = "2",
		 .vlen = 1},
	};
	struct op three[] = {
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "b",
		 .klen = 1,
		 .val = "3",
		 .vlen = 1},
		{.kind = OP_DEL, .table = STORE_PROCS, .key = "a", .klen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "e",
		 .klen = 1,
		 .val = "3",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_OUTPUT,
		 .key = "o",
		 .klen = 1,
		 .val = "3",
		 .vlen = 1},
	};
	static const char *const want[] = {
		"", "a=1 b=1 c=1", "a=1 c=2 d=2", "b=3 c=2 d=2 e=3", "b=3 c=2 e=3",
	};
	static const struct {
		uint64_t at;
		const char *prefix, *seek, *want;
	} cases[] = {
		{1, "b", NULL, "b=1"}, /* Deleted since. */
		{2, "b", NULL, ""},    /* Deleted then, created again since. */
		{3, "d", NULL, "d=2"}, /* Deleted since. */
		{1, "e", NULL, ""},    /* Created since. */
		{1, "d", NULL, ""},    /* Created and deleted since. */
		{2, "", "b", "c=2 d=2"}, {3, "", "a", "b=3 c=2 d=2 e=3"},
		{1, "", "b", "b=1 c=1"}, {3, "", "d", "d=2 e=3"},
	};
	uint64_t at;
	size_t i;

	put_rows(1, STORE_PROCS, one, 3);
	assert_ok(apply_ops(&fx.s, 2, two, 4));
	assert_ok(apply_ops(&fx.s, 3, three, 4));
	assert_ok(apply_del(&fx.s, 4, STORE_PROCS, K("d")));
	for (at = 0; at <= 4; at++)
		assert_scan(STORE_PROCS, at, want[at]);
	assert_scan(STORE_PROCS, STORE_AT_LATEST, want[4]);
	assert_scan(STORE_NODES, 1, "");
	assert_scan(STORE_NODES, 2, "n=2");
	assert_scan(STORE_OUTPUT, 2, "");
	assert_scan(STORE_OUTPUT, 3, "o=3");
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *seek = cases[i].seek;

		assert_ok(read_scan(&fx.s, STORE_PROCS, cases[i].prefix, strlen(cases[i].prefix),
				    seek, seek != NULL ? strlen(seek) : 0, cases[i].at, &out));
		ck_assert_msg(strcmp(buf_str(&out), cases[i].want) == 0,
			      "at %llu prefix '%s' seek '%s': got '%s', expected '%s'",
			      (unsigned long long)cases[i].at, cases[i].prefix,
			      seek != NULL ? seek : "(none)", buf_str(&out), cases[i].want);
	}
}
END_TEST

/* What a scan inside the write transaction of index 3 sees. */
struct txn_scan {
	uint64_t at;
	char keys[16];
	int rc;
};

static int scan_in_txn(struct store_txn *t, void *arg)
{
	struct txn_scan *sc = arg;
	struct store_iter it;
	const void *k, *v;
	size_t klen, vlen, n = 0;
	int rc;

	rc = store_put(t, STORE_PROCS, K("b"), K("3"));
	if (rc == 0)
		rc = store_del(t, STORE_PROCS, K("c"));
	if (rc == 0)
		rc = store_iter_init(&it, t, STORE_PROCS, NULL, 0, sc->at);
	if (rc != 0) {
		sc->rc = rc;
		return rc;
	}
	while ((rc = store_iter_next(&it, &k, &klen, &v, &vlen)) == 0 && n + 1 < sizeof sc->keys)
		sc->keys[n++] = *(const char *)k;
	sc->keys[n] = '\0';
	store_iter_close(&it);
	sc->rc = rc == ERR_NOTFOUND ? 0 : rc;
	return sc->rc;
}

START_TEST(test_store_write_txn_reads_its_own_writes)
{
	struct op ops[] = {
		{.kind = OP_GET,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .target = STORE_AT_LATEST,
		 .val = "2",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .val = "3",
		 .vlen = 1},
		{.kind = OP_GET,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .target = STORE_AT_LATEST,
		 .val = "3",
		 .vlen = 1},
		{.kind = OP_GET,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .target = 3,
		 .val = "3",
		 .vlen = 1},
		{.kind = OP_GET,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .target = 2,
		 .val = "2",
		 .vlen = 1},
		{.kind = OP_GET,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .target = 1,
		 .val = "1",
		 .vlen = 1},
		{.kind = OP_GET,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .target = 4,
		 .expect = ERR_RANGE},
		{.kind = OP_DEL, .table = STORE_PROCS, .key = "a", .klen = 1},
		{.kind = OP_GET,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .target = STORE_AT_LATEST,
		 .expect = ERR_NOTFOUND},
		{.kind = OP_GET,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .target = 2,
		 .val = "2",
		 .vlen = 1},
	};
	static const char *const rows[] = {"a", "1", "c", "1"};
	struct txn_scan sc;

	put_rows(1, STORE_PROCS, rows, 2);
	assert_ok(apply_put(&fx.s, 2, STORE_PROCS, K("a"), K("2")));
	assert_ok(apply_ops(&fx.s, 3, ops, sizeof ops / sizeof ops[0]));
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "c=1");

	/* Scans in the transaction: the latest state includes its writes, the
	 * state before it does not. */
	memset(&sc, 0, sizeof sc);
	sc.at = STORE_AT_LATEST;
	assert_ok(store_apply(&fx.s, 4, scan_in_txn, &sc));
	ck_assert_str_eq(sc.keys, "b");
	memset(&sc, 0, sizeof sc);
	sc.at = 4;
	assert_ok(store_apply(&fx.s, 5, scan_in_txn, &sc));
	ck_assert_str_eq(sc.keys, "b");
	assert_ok(apply_put(&fx.s, 6, STORE_PROCS, K("c"), K("6")));
	memset(&sc, 0, sizeof sc);
	sc.at = 6;
	assert_ok(store_apply(&fx.s, 7, scan_in_txn, &sc));
	ck_assert_str_eq(sc.keys, "bc");
}
END_TEST

START_TEST(test_store_unversioned_tables_are_not_rewound)
{
	struct op one[] = {
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .val = "1",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_RESULTS,
		 .key = "r",
		 .klen = 1,
		 .val = "1",
		 .vlen = 1},
		{.kind = OP_PUT, .table = STORE_LOG, .key = "l1", .klen = 2, .val = "1", .vlen = 1},
	};
	struct op two[] = {
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .val = "2",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_RESULTS,
		 .key = "r",
		 .klen = 1,
		 .val = "2",
		 .vlen = 1},
		{.kind = OP_PUT, .table = STORE_LOG, .key = "l2", .klen = 2, .val = "2", .vlen = 1},
	};

	assert_ok(apply_ops(&fx.s, 1, one, 3));
	assert_ok(apply_ops(&fx.s, 2, two, 3));
	assert_ok(apply_rewind(&fx.s, 3, 1));
	assert_get(STORE_PROCS, K("a"), STORE_AT_LATEST, "1");
	assert_get(STORE_RESULTS, K("r"), STORE_AT_LATEST, "2");
	assert_scan(STORE_LOG, STORE_AT_LATEST, "l1=1 l2=2");
	/* Without history, a read as of an earlier index sees the current rows. */
	assert_get(STORE_RESULTS, K("r"), 1, "2");
	assert_scan(STORE_LOG, 1, "l1=1 l2=2");
	assert_get(STORE_PROCS, K("a"), 2, "2");
}
END_TEST

START_TEST(test_store_unversioned_tables_are_not_in_digest)
{
	struct hash128 d1;

	assert_ok(apply_put(&fx.s, 1, STORE_PROCS, K("a"), K("1")));
	d1 = store_digest(&fx.s);
	assert_digest_eq(d1, test_row_hash(STORE_PROCS, K("a"), K("1")));
	assert_ok(apply_put(&fx.s, 2, STORE_RESULTS, K("r"), K("x")));
	assert_digest_eq(store_digest(&fx.s), d1);
	assert_ok(apply_put(&fx.s, 3, STORE_LOG, K("l"), K("y")));
	assert_digest_eq(store_digest(&fx.s), d1);
	assert_ok(apply_del(&fx.s, 4, STORE_RESULTS, K("r")));
	assert_digest_eq(store_digest(&fx.s), d1);
	assert_digest_eq(digest_at(2), d1);
	assert_digest_eq(digest_at(3), d1);
	assert_get(STORE_RESULTS, K("r"), STORE_AT_LATEST, NULL);
	assert_get(STORE_LOG, K("l"), STORE_AT_LATEST, "y");
}
END_TEST

START_TEST(test_store_read_above_applied_is_range_error)
{
	struct hash128 d;
	uint64_t i;

	for (i = 1; i <= 3; i++)
		assert_ok(apply_put(&fx.s, i, STORE_PROCS, K("a"), K("x")));
	ck_assert_int_eq(read_get(&fx.s, STORE_PROCS, K("a"), 4, &out), ERR_RANGE);
	ck_assert_msg(strstr(fx.s.errmsg, "readable: 0..3") != NULL, "%s", fx.s.errmsg);
	ck_assert_msg(strstr(fx.s.errmsg, "4") != NULL, "%s", fx.s.errmsg);
	ck_assert_int_eq(read_scan(&fx.s, STORE_PROCS, NULL, 0, NULL, 0, 4, &out), ERR_RANGE);
	ck_assert_int_eq(read_get(&fx.s, STORE_RESULTS, K("a"), 4, &out), ERR_RANGE);
	ck_assert_int_eq(read_digest(&fx.s, 4, &d), ERR_RANGE);
	ck_assert_msg(strstr(fx.s.errmsg, "readable: 0..3") != NULL, "%s", fx.s.errmsg);
	ck_assert_int_eq(read_get(&fx.s, STORE_PROCS, K("a"), UINT64_MAX - 1, &out), ERR_RANGE);
}
END_TEST

START_TEST(test_store_read_below_oldest_is_range_error)
{
	struct hash128 d, d2 = {0, 0};
	uint64_t i;

	for (i = 1; i <= 3; i++) {
		char v = (char)('0' + i);

		assert_ok(apply_put(&fx.s, i, STORE_PROCS, K("a"), &v, 1));
		if (i == 2)
			d2 = store_digest(&fx.s);
	}
	assert_ok(apply_compact(&fx.s, 4, 2));
	ck_assert_uint_eq(store_oldest_index(&fx.s), 2);
	ck_assert_uint_eq(store_applied_index(&fx.s), 4);
	for (i = 0; i < 2; i++) {
		fx.s.errmsg[0] = '\0';
		ck_assert_int_eq(read_get(&fx.s, STORE_PROCS, K("a"), i, &out), ERR_RANGE);
		ck_assert_msg(strstr(fx.s.errmsg, "readable: 2..4") != NULL, "%s", fx.s.errmsg);
		ck_assert_int_eq(read_scan(&fx.s, STORE_PROCS, NULL, 0, NULL, 0, i, &out),
				 ERR_RANGE);
		ck_assert_int_eq(read_digest(&fx.s, i, &d), ERR_RANGE);
		ck_assert_int_eq(read_get(&fx.s, STORE_LOG, K("a"), i, &out), ERR_RANGE);
	}
	/* The oldest index itself stays readable. */
	assert_get(STORE_PROCS, K("a"), 2, "2");
	assert_get(STORE_PROCS, K("a"), 3, "3");
	assert_scan(STORE_PROCS, 2, "a=2");
	assert_digest_eq(digest_at(2), d2);
}
END_TEST

/* Tries one write of a key one byte too long and keeps its code and message. */
struct too_big {
	int table;
	bool del;
	int rc;
	char msg[512];
	bool fail; /* Return the error instead of ignoring it. */
};

static int write_too_big(struct store_txn *t, void *arg)
{
	struct too_big *tb = arg;
	uint8_t key[STORE_KEY_MAX + 1];
	int rc;

	memset(key, 'k', sizeof key);
	rc = store_put(t, STORE_PROCS, K("before"), K("x"));
	if (rc != 0)
		return rc;
	if (tb->del)
		tb->rc = store_del(t, tb->table, key, sizeof key);
	else
		tb->rc = store_put(t, tb->table, key, sizeof key, K("v"));
	snprintf(tb->msg, sizeof tb->msg, "%s", t->s->errmsg);
	return tb->fail ? tb->rc : 0;
}

START_TEST(test_store_key_too_big_changes_nothing)
{
	struct too_big tb;
	struct hash128 d;
	uint8_t key[STORE_KEY_MAX + 1];
	int i;

	memset(key, 'k', sizeof key);
	assert_ok(apply_put(&fx.s, 1, STORE_PROCS, K("a"), K("1")));
	d = store_digest(&fx.s);

	/* The callback returns the error: the whole index is not applied. */
	memset(&tb, 0, sizeof tb);
	tb.table = STORE_PROCS;
	tb.fail = true;
	ck_assert_int_eq(store_apply(&fx.s, 2, write_too_big, &tb), ERR_TOOBIG);
	ck_assert_int_eq(tb.rc, ERR_TOOBIG);
	ck_assert_msg(strstr(tb.msg, "241") != NULL && strstr(tb.msg, "240") != NULL, "%s", tb.msg);
	ck_assert_uint_eq(store_applied_index(&fx.s), 1);
	assert_digest_eq(store_digest(&fx.s), d);
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=1");

	/* The callback carries on: the index applies, without the row. */
	for (i = 0; i < 4; i++) {
		memset(&tb, 0, sizeof tb);
		tb.table = i % 2 == 0 ? STORE_PROCS : STORE_RESULTS;
		tb.del = i >= 2;
		assert_ok(store_apply(&fx.s, 2 + (uint64_t)i, write_too_big, &tb));
		ck_assert_int_eq(tb.rc, ERR_TOOBIG);
	}
	ck_assert_uint_eq(store_applied_index(&fx.s), 5);
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=1 before=x");
	assert_scan(STORE_RESULTS, STORE_AT_LATEST, "");
	assert_digest_eq(store_digest(&fx.s),
			 digest_add(d, test_row_hash(STORE_PROCS, K("before"), K("x"))));
	ck_assert_int_eq(read_get(&fx.s, STORE_PROCS, key, sizeof key, STORE_AT_LATEST, &out),
			 ERR_NOTFOUND);
}
END_TEST

START_TEST(test_store_longest_keys_work_at_all_indexes)
{
	uint8_t zeros[STORE_KEY_MAX], ffs[STORE_KEY_MAX], prefix[STORE_KEY_MAX - 1];
	struct op ops[] = {
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = zeros,
		 .klen = sizeof zeros,
		 .val = "z1",
		 .vlen = 2},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = ffs,
		 .klen = sizeof ffs,
		 .val = "f1",
		 .vlen = 2},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = prefix,
		 .klen = sizeof prefix,
		 .val = "p1",
		 .vlen = 2},
	};
	struct store_txn t;
	struct store_iter it;
	const void *k, *v;
	size_t klen, vlen;

	memset(zeros, 0, sizeof zeros);
	memset(ffs, 0xff, sizeof ffs);
	memset(prefix, 0, sizeof prefix);
	assert_ok(apply_ops(&fx.s, 1, ops, 3));
	assert_ok(apply_put(&fx.s, 2, STORE_PROCS, zeros, sizeof zeros, K("z2")));
	assert_ok(apply_del(&fx.s, 3, STORE_PROCS, prefix, sizeof prefix));
	assert_ok(apply_del(&fx.s, 4, STORE_PROCS, ffs, sizeof ffs));
	assert_get(STORE_PROCS, KB(zeros), 1, "z1");
	assert_get(STORE_PROCS, KB(zeros), 2, "z2");
	assert_get(STORE_PROCS, KB(prefix), 2, "p1");
	assert_get(STORE_PROCS, KB(prefix), 3, NULL);
	assert_get(STORE_PROCS, KB(ffs), 3, "f1");
	assert_get(STORE_PROCS, KB(ffs), 4, NULL);

	/* As of 1, a scan with the 239-zero prefix finds both zero keys, in order. */
	assert_ok(store_read(&fx.s, &t));
	assert_ok(store_iter_init(&it, &t, STORE_PROCS, prefix, sizeof prefix, 1));
	assert_ok(store_iter_next(&it, &k, &klen, &v, &vlen));
	ck_assert_uint_eq(klen, sizeof prefix);
	ck_assert_mem_eq(v, "p1", 2);
	assert_ok(store_iter_next(&it, &k, &klen, &v, &vlen));
	ck_assert_uint_eq(klen, sizeof zeros);
	ck_assert_mem_eq(k, zeros, sizeof zeros);
	ck_assert_mem_eq(v, "z1", 2);
	ck_assert_int_eq(store_iter_next(&it, &k, &klen, &v, &vlen), ERR_NOTFOUND);
	store_iter_close(&it);
	store_read_end(&t);
}
END_TEST

/* Invalid writes and reads, each checked inside one transaction. */
static int invalid_writes(struct store_txn *t, void *arg)
{
	int *bad = arg;
	const void *v;
	size_t vlen;
	struct store_iter it;

	*bad = 0;
	if (store_put(t, STORE_PROCS, "", 0, K("v")) != ERR_INVALID)
		*bad = 1;
	else if (store_del(t, STORE_PROCS, "", 0) != ERR_INVALID)
		*bad = 2;
	else if (store_put(t, STORE_N_TABLES, K("k"), K("v")) != ERR_INVALID)
		*bad = 3;
	else if (store_put(t, -1, K("k"), K("v")) != ERR_INVALID)
		*bad = 4;
	else if (store_del(t, STORE_N_TABLES, K("k")) != ERR_INVALID)
		*bad = 5;
	else if (store_get(t, STORE_N_TABLES, K("k"), STORE_AT_LATEST, &v, &vlen) != ERR_INVALID)
		*bad = 6;
	else if (store_iter_init(&it, t, -1, NULL, 0, STORE_AT_LATEST) != ERR_INVALID)
		*bad = 7;
	return 0;
}

START_TEST(test_store_invalid_arguments)
{
	struct store_txn t;
	int bad = -1;

	assert_ok(store_apply(&fx.s, 1, invalid_writes, &bad));
	ck_assert_int_eq(bad, 0);
	assert_digest_eq(store_digest(&fx.s), zero_digest());
	/* Writes in a read transaction. */
	assert_ok(store_read(&fx.s, &t));
	ck_assert_int_eq(store_put(&t, STORE_PROCS, K("k"), K("v")), ERR_INVALID);
	ck_assert_int_eq(store_del(&t, STORE_PROCS, K("k")), ERR_INVALID);
	ck_assert_int_eq(store_rewind(&t, 0), ERR_INVALID);
	ck_assert_int_eq(store_compact(&t, 0), ERR_INVALID);
	store_read_end(&t);
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "");
}
END_TEST

START_TEST(test_store_keys_with_zero_bytes_and_prefixes)
{
	/* In key order: "\0" < "a" < "a\0" < "a\0\0" < "ab" < "a\xff". */
	struct op one[] = {
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "\0",
		 .klen = 1,
		 .val = "1",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .val = "1",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a\0",
		 .klen = 2,
		 .val = "1",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a\0\0",
		 .klen = 3,
		 .val = "1",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "ab",
		 .klen = 2,
		 .val = "1",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a\xff",
		 .klen = 2,
		 .val = "1",
		 .vlen = 1},
	};
	struct op two[] = {
		{.kind = OP_DEL, .table = STORE_PROCS, .key = "a\0", .klen = 2},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .val = "2",
		 .vlen = 1},
	};
	struct op three[] = {
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a\0",
		 .klen = 2,
		 .val = "3",
		 .vlen = 1},
		{.kind = OP_DEL, .table = STORE_PROCS, .key = "a\0\0", .klen = 3},
	};
	struct op four[] = {
		{.kind = OP_DEL, .table = STORE_PROCS, .key = "a", .klen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "ab",
		 .klen = 2,
		 .val = "4",
		 .vlen = 1},
	};
	static const char *const all[] = {
		"",
		"\\x00=1 a=1 a\\x00=1 a\\x00\\x00=1 ab=1 a\\xff=1",
		"\\x00=1 a=2 a\\x00\\x00=1 ab=1 a\\xff=1",
		"\\x00=1 a=2 a\\x00=3 ab=1 a\\xff=1",
		"\\x00=1 a\\x00=3 ab=4 a\\xff=1",
	};
	static const char *const under_a0[] = {
		"", "a\\x00=1 a\\x00\\x00=1", "a\\x00\\x00=1", "a\\x00=3", "a\\x00=3",
	};
	static const char *const want_a[] = {NULL, "1", "2", "2", NULL};
	static const char *const want_a0[] = {NULL, "1", NULL, "3", "3"};
	static const char *const want_a00[] = {NULL, "1", "1", NULL, NULL};
	static const char *const want_ab[] = {NULL, "1", "1", "1", "4"};
	uint64_t at;

	assert_ok(apply_ops(&fx.s, 1, one, 6));
	assert_ok(apply_ops(&fx.s, 2, two, 2));
	assert_ok(apply_ops(&fx.s, 3, three, 2));
	assert_ok(apply_ops(&fx.s, 4, four, 2));
	for (at = 0; at <= 4; at++) {
		assert_get(STORE_PROCS, K("a"), at, want_a[at]);
		assert_get(STORE_PROCS, K("a\0"), at, want_a0[at]);
		assert_get(STORE_PROCS, K("a\0\0"), at, want_a00[at]);
		assert_get(STORE_PROCS, K("ab"), at, want_ab[at]);
		assert_get(STORE_PROCS, K("\0"), at, at == 0 ? NULL : "1");
		assert_get(STORE_PROCS, K("a\xff"), at, at == 0 ? NULL : "1");
		assert_get(STORE_PROCS, K("\0\0"), at, NULL);
		assert_get(STORE_PROCS, K("a\0\0\0"), at, NULL);
		assert_scan(STORE_PROCS, at, all[at]);
		assert_ok(read_scan(&fx.s, STORE_PROCS, K("a\0"), NULL, 0, at, &out));
		ck_assert_str_eq(buf_str(&out), under_a0[at]);
		assert_ok(read_scan(&fx.s, STORE_PROCS, K("\0"), NULL, 0, at, &out));
		ck_assert_str_eq(buf_str(&out), at == 0 ? "" : "\\x00=1");
		/* A seek between "a\0\0" and "ab". */
		assert_ok(read_scan(&fx.s, STORE_PROCS, K("a"), K("a\0\0\0"), at, &out));
		ck_assert_str_eq(buf_str(&out), at == 0  ? ""
						: at < 4 ? "ab=1 a\\xff=1"
							 : "ab=4 a\\xff=1");
	}
}
END_TEST

static int must_not_run(struct store_txn *t, void *arg)
{
	*(int *)arg += 1;
	return store_put(t, STORE_PROCS, K("a"), K("again"));
}

START_TEST(test_store_reapplied_index_is_skipped)
{
	struct hash128 d;
	int calls = 0;
	uint64_t i;

	assert_ok(apply_put(&fx.s, 1, STORE_PROCS, K("a"), K("1")));
	assert_ok(apply_put(&fx.s, 3, STORE_PROCS, K("a"), K("3")));
	d = store_digest(&fx.s);
	for (i = 0; i <= 3; i++)
		ck_assert_int_eq(store_apply(&fx.s, i, must_not_run, &calls), 0);
	ck_assert_int_eq(calls, 0);
	ck_assert_uint_eq(store_applied_index(&fx.s), 3);
	assert_digest_eq(store_digest(&fx.s), d);
	assert_get(STORE_PROCS, K("a"), STORE_AT_LATEST, "3");
	assert_get(STORE_PROCS, K("a"), 2, "1");
	ck_assert_int_eq(store_apply(&fx.s, 4, must_not_run, &calls), 0);
	ck_assert_int_eq(calls, 1);
	assert_get(STORE_PROCS, K("a"), STORE_AT_LATEST, "again");
}
END_TEST

START_TEST(test_store_reopen_keeps_state)
{
	struct hash128 d, d4 = {0, 0};
	uint64_t i;
	int calls = 0;

	for (i = 1; i <= 6; i++) {
		char v = (char)('0' + i);

		assert_ok(apply_put(&fx.s, i, STORE_PROCS, K("a"), &v, 1));
		if (i == 4)
			d4 = store_digest(&fx.s);
	}
	assert_ok(apply_put(&fx.s, 7, STORE_RESULTS, K("r"), K("7")));
	assert_ok(apply_compact(&fx.s, 8, 3));
	d = store_digest(&fx.s);
	fixture_close(&fx);
	fixture_open(&fx, NULL);
	ck_assert_uint_eq(store_applied_index(&fx.s), 8);
	ck_assert_uint_eq(store_oldest_index(&fx.s), 3);
	assert_digest_eq(store_digest(&fx.s), d);
	assert_digest_eq(digest_at(4), d4);
	assert_get(STORE_PROCS, K("a"), 3, "3");
	assert_get(STORE_PROCS, K("a"), 5, "5");
	assert_get(STORE_RESULTS, K("r"), STORE_AT_LATEST, "7");
	ck_assert_int_eq(read_get(&fx.s, STORE_PROCS, K("a"), 2, &out), ERR_RANGE);
	ck_assert_int_eq(store_apply(&fx.s, 8, must_not_run, &calls), 0);
	ck_assert_int_eq(calls, 0);
	assert_ok(apply_rewind(&fx.s, 9, 4));
	assert_get(STORE_PROCS, K("a"), STORE_AT_LATEST, "4");
	assert_digest_eq(store_digest(&fx.s), d4);
}
END_TEST

/* Child side of the crash test: no Check calls, only _exit codes. */
static int crash_mid_apply(struct store_txn *t, void *arg)
{
	if (store_put(t, STORE_PROCS, K("k"), K("never")) != 0)
		_exit(20);
	_exit(0); /* The process dies with the write transaction open. */
}

static void crash_child(const char *dir)
{
	struct store s;
	uint64_t i;

	if (store_open(&s, dir, &test_options) != 0)
		_exit(10);
	for (i = 1; i <= 5; i++) {
		char v = (char)('0' + i);

		if (apply_put(&s, i, STORE_PROCS, K("k"), &v, 1) != 0)
			_exit(11);
	}
	if (apply_compact(&s, 6, 2) != 0)
		_exit(12);
	store_apply(&s, 7, crash_mid_apply, NULL);
	_exit(13);
}

START_TEST(test_store_crash_keeps_last_committed_index)
{
	struct hash128 d;
	pid_t pid;
	int status;

	/* Fork before any LMDB environment exists in this process. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		crash_child(fx.dir);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

	fixture_open(&fx, NULL);
	ck_assert_uint_eq(store_applied_index(&fx.s), 6);
	ck_assert_uint_eq(store_oldest_index(&fx.s), 2);
	assert_digest_eq(store_digest(&fx.s), test_row_hash(STORE_PROCS, K("k"), K("5")));
	assert_get(STORE_PROCS, K("k"), STORE_AT_LATEST, "5");
	assert_get(STORE_PROCS, K("k"), 3, "3");
	ck_assert_int_eq(read_digest(&fx.s, 3, &d), 0);
	assert_digest_eq(d, test_row_hash(STORE_PROCS, K("k"), K("3")));
	/* The store carries on from there. */
	assert_ok(apply_put(&fx.s, 7, STORE_PROCS, K("k"), K("7")));
	assert_get(STORE_PROCS, K("k"), 6, "5");
	assert_get(STORE_PROCS, K("k"), 7, "7");
}
END_TEST

START_TEST(test_store_reopen_without_writes_is_empty)
{
	/* Opening a store, closing it without writing and reopening it. */
	fixture_open(&fx, NULL);
	fixture_close(&fx);
	fixture_open(&fx, NULL);
	ck_assert_uint_eq(store_applied_index(&fx.s), 0);
	assert_digest_eq(store_digest(&fx.s), zero_digest());
}
END_TEST

/* Big rows: `rows` values of `vlen` bytes in STORE_FILES, a function of
 * (index, row), so the callback stays a pure function of its argument. */
struct big {
	uint64_t index;
	unsigned rows;
	size_t vlen;
	unsigned calls;
};

static void big_key(char key[32], uint64_t index, unsigned row)
{
	snprintf(key, 32, "f/%03llu/%04u", (unsigned long long)index, row);
}

static void big_value(uint8_t *v, size_t vlen, uint64_t index, unsigned row)
{
	uint64_t s = (index << 20) ^ row ^ 0x9e3779b97f4a7c15ULL;
	size_t i;

	for (i = 0; i < vlen; i++)
		v[i] = (uint8_t)rng_next(&s);
}

static int write_big(struct store_txn *t, void *arg)
{
	struct big *b = arg;
	uint8_t *v;
	char key[32];
	unsigned r;
	int rc = 0;

	b->calls++;
	v = malloc(b->vlen);
	if (v == NULL)
		return ERR_NOMEM;
	for (r = 0; r < b->rows && rc == 0; r++) {
		big_key(key, b->index, r);
		big_value(v, b->vlen, b->index, r);
		rc = store_put(t, STORE_FILES, key, strlen(key), v, b->vlen);
	}
	free(v);
	return rc;
}

static void assert_big_rows(uint64_t index, unsigned rows, size_t vlen, uint64_t at)
{
	struct store_txn t;
	uint8_t *want;
	const void *v;
	size_t len;
	char key[32];
	unsigned r;

	want = malloc(vlen);
	ck_assert_ptr_nonnull(want);
	assert_ok(store_read(&fx.s, &t));
	for (r = 0; r < rows; r++) {
		big_key(key, index, r);
		big_value(want, vlen, index, r);
		assert_ok(store_get(&t, STORE_FILES, key, strlen(key), at, &v, &len));
		ck_assert_uint_eq(len, vlen);
		ck_assert_msg(memcmp(v, want, vlen) == 0, "row %s differs", key);
	}
	store_read_end(&t);
	free(want);
}

START_TEST(test_store_map_grows_when_full)
{
	struct store_options opts = {.map_size = 256 << 10, .map_size_max = (size_t)1 << 30};
	struct big b;
	struct hash128 d = {0, 0};
	uint8_t *v;
	char key[32];
	unsigned calls = 0, r;
	uint64_t i;

	fixture_open(&fx, &opts);
	v = malloc(4096);
	ck_assert_ptr_nonnull(v);
	/* 8 indexes of 128 rows of 4 KiB: 4 MiB of values, 16 times the map. */
	for (i = 1; i <= 8; i++) {
		memset(&b, 0, sizeof b);
		b.index = i;
		b.rows = 128;
		b.vlen = 4096;
		assert_ok(store_apply(&fx.s, i, write_big, &b));
		calls += b.calls;
		for (r = 0; r < b.rows; r++) {
			big_key(key, i, r);
			big_value(v, b.vlen, i, r);
			d = digest_add(d, test_row_hash(STORE_FILES, key, strlen(key), v, b.vlen));
		}
	}
	free(v);
	ck_assert_uint_eq(store_applied_index(&fx.s), 8);
	ck_assert_uint_gt(fx.s.grows, 0);
	ck_assert_uint_gt(fx.s.map_size, opts.map_size);
	/* Each growth aborted the transaction and ran the callback again. */
	ck_assert_uint_eq(calls, 8 + fx.s.grows);
	assert_digest_eq(store_digest(&fx.s), d);
	for (i = 1; i <= 8; i++) {
		assert_big_rows(i, 128, 4096, STORE_AT_LATEST);
		assert_big_rows(i, 128, 4096, i);
		big_key(key, i, 0);
		ck_assert_int_eq(read_get(&fx.s, STORE_FILES, key, strlen(key), i - 1, &out),
				 ERR_NOTFOUND);
	}
	/* And after reopening. */
	fixture_close(&fx);
	fixture_open(&fx, &opts);
	assert_digest_eq(store_digest(&fx.s), d);
	assert_big_rows(5, 128, 4096, STORE_AT_LATEST);
}
END_TEST

START_TEST(test_store_map_full_at_maximum_keeps_state)
{
	struct store_options opts = {.map_size = 256 << 10, .map_size_max = 256 << 10};
	struct big b;
	struct hash128 d;

	fixture_open(&fx, &opts);
	assert_ok(apply_put(&fx.s, 1, STORE_PROCS, K("a"), K("1")));
	d = store_digest(&fx.s);
	memset(&b, 0, sizeof b);
	b.index = 2;
	b.rows = 256;
	b.vlen = 4096;
	ck_assert_int_eq(store_apply(&fx.s, 2, write_big, &b), ERR_FULL);
	ck_assert_msg(strstr(fx.s.errmsg, "apply index 2") != NULL, "%s", fx.s.errmsg);
	ck_assert_uint_eq(fx.s.grows, 0);
	ck_assert_uint_eq(store_applied_index(&fx.s), 1);
	assert_digest_eq(store_digest(&fx.s), d);
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=1");
	assert_scan(STORE_FILES, STORE_AT_LATEST, "");
	ck_assert_int_eq(read_get(&fx.s, STORE_PROCS, K("a"), 2, &out), ERR_RANGE);
	/* A smaller index fits, and survives a reopen. */
	assert_ok(apply_put(&fx.s, 2, STORE_PROCS, K("b"), K("2")));
	fixture_close(&fx);
	fixture_open(&fx, &opts);
	ck_assert_uint_eq(store_applied_index(&fx.s), 2);
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=1 b=2");
	assert_scan(STORE_FILES, STORE_AT_LATEST, "");
}
END_TEST

START_TEST(test_store_callback_error_aborts_index)
{
	struct op ops[] = {
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .val = "2",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "b",
		 .klen = 1,
		 .val = "2",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_RESULTS,
		 .key = "r",
		 .klen = 1,
		 .val = "2",
		 .vlen = 1},
		{.kind = OP_REWIND, .target = 0},
		{.kind = OP_PUT,
		 .table = STORE_NODES,
		 .key = "n",
		 .klen = 1,
		 .val = "2",
		 .vlen = 1},
		{.kind = OP_COMPACT, .target = 1},
		{.kind = OP_FAIL, .expect = ERR_IO},
	};
	struct hash128 d;

	assert_ok(apply_put(&fx.s, 1, STORE_PROCS, K("a"), K("1")));
	d = store_digest(&fx.s);
	ck_assert_int_eq(apply_ops(&fx.s, 2, ops, 7), ERR_IO);
	ck_assert_uint_eq(store_applied_index(&fx.s), 1);
	ck_assert_uint_eq(store_oldest_index(&fx.s), 0);
	assert_digest_eq(store_digest(&fx.s), d);
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=1");
	assert_scan(STORE_NODES, STORE_AT_LATEST, "");
	assert_scan(STORE_RESULTS, STORE_AT_LATEST, "");
	ck_assert_int_eq(read_get(&fx.s, STORE_PROCS, K("a"), 2, &out), ERR_RANGE);
	/* Other codes come back unchanged too. */
	ops[6].expect = ERR_NOMEM;
	ck_assert_int_eq(apply_ops(&fx.s, 2, ops, 7), ERR_NOMEM);
	ck_assert_uint_eq(store_applied_index(&fx.s), 1);
	/* The index can then be applied. */
	assert_ok(apply_put(&fx.s, 2, STORE_PROCS, K("c"), K("2")));
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=1 c=2");
	assert_scan(STORE_PROCS, 1, "a=1");
	assert_scan(STORE_PROCS, 0, "");
}
END_TEST

/* Tries one rewind or compaction and keeps its code and message; carries on. */
struct attempt {
	bool compact;
	uint64_t target;
	int rc;
	char msg[512];
};

static int try_once(struct store_txn *t, void *arg)
{
	struct attempt *a = arg;

	t->s->errmsg[0] = '\0';
	a->rc = a->compact ? store_compact(t, a->target) : store_rewind(t, a->target);
	snprintf(a->msg, sizeof a->msg, "%s", t->s->errmsg);
	return store_put(t, STORE_RESULTS, K("attempted"), &a->target, sizeof a->target);
}

START_TEST(test_store_rewind_out_of_range_is_rejected)
{
	struct op ops[] = {
		{.kind = OP_REWIND, .target = 4, .expect = ERR_RANGE},
		{.kind = OP_REWIND, .target = 5, .expect = ERR_RANGE},
		{.kind = OP_REWIND, .target = 0, .expect = ERR_RANGE},
		{.kind = OP_REWIND, .target = UINT64_MAX, .expect = ERR_RANGE},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "b",
		 .klen = 1,
		 .val = "4",
		 .vlen = 1},
	};
	struct attempt a;
	size_t i;

	assert_ok(apply_put(&fx.s, 1, STORE_PROCS, K("a"), K("1")));
	assert_ok(apply_put(&fx.s, 2, STORE_PROCS, K("a"), K("2")));
	assert_ok(apply_compact(&fx.s, 3, 1));
	/* The rejected rewinds change nothing; the transaction's write commits. */
	assert_ok(apply_ops(&fx.s, 4, ops, 5));
	ck_assert_uint_eq(store_applied_index(&fx.s), 4);
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=2 b=4");
	assert_digest_eq(store_digest(&fx.s),
			 digest_add(test_row_hash(STORE_PROCS, K("a"), K("2")),
				    test_row_hash(STORE_PROCS, K("b"), K("4"))));
	/* At index 5..8: the index itself, above it, far above it, below the
	 * oldest. */
	for (i = 0; i < 4; i++) {
		uint64_t index = 5 + i;

		memset(&a, 0, sizeof a);
		a.target = i == 0 ? index : i == 1 ? index + 1 : i == 2 ? UINT64_MAX : 0;
		assert_ok(store_apply(&fx.s, index, try_once, &a));
		ck_assert_int_eq(a.rc, ERR_RANGE);
		ck_assert_msg(strstr(a.msg, "readable: 1..") != NULL, "%s", a.msg);
	}
	memset(&a, 0, sizeof a);
	a.target = 9;
	assert_ok(store_apply(&fx.s, 9, try_once, &a));
	ck_assert_msg(strstr(a.msg, "cannot rewind to index 9 (readable: 1..8)") != NULL, "%s",
		      a.msg);
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=2 b=4");
	/* Compaction: not below the index is rejected; at or below the oldest
	 * is a no-op. */
	memset(&a, 0, sizeof a);
	a.compact = true;
	a.target = 10;
	assert_ok(store_apply(&fx.s, 10, try_once, &a));
	ck_assert_int_eq(a.rc, ERR_RANGE);
	ck_assert_msg(strlen(a.msg) > 0, "no message");
	a.target = 0;
	assert_ok(store_apply(&fx.s, 11, try_once, &a));
	ck_assert_int_eq(a.rc, 0);
	ck_assert_uint_eq(store_oldest_index(&fx.s), 1);
	assert_get(STORE_PROCS, K("a"), 1, "1");
}
END_TEST

START_TEST(test_store_digest_at_each_index)
{
	struct hash128 d[13];
	uint64_t s = 7, i;

	d[0] = zero_digest();
	for (i = 1; i <= 12; i++) {
		char k = (char)('a' + rng_below(&s, 4)), v = (char)('0' + rng_below(&s, 3));

		if (rng_below(&s, 3) == 0)
			assert_ok(apply_del(&fx.s, i, STORE_NODES + (int)(i % 3), &k, 1));
		else
			assert_ok(apply_put(&fx.s, i, STORE_NODES + (int)(i % 3), &k, 1, &v, 1));
		d[i] = store_digest(&fx.s);
	}
	for (i = 0; i <= 12; i++) {
		assert_digest_eq(digest_at(i), d[i]);
		assert_digest_eq(recompute_digest(i), d[i]);
	}
	assert_digest_eq(digest_at(STORE_AT_LATEST), d[12]);
}
END_TEST

/* Indexes 1..4 of the rewind tests: PROCS a, b, c, d and NODES n. */
static void history_1_to_4(struct hash128 d[5])
{
	static const char *const one[] = {"a", "1", "b", "1"};
	struct op two[] = {
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .val = "2",
		 .vlen = 1},
		{.kind = OP_DEL, .table = STORE_PROCS, .key = "b", .klen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "c",
		 .klen = 1,
		 .val = "2",
		 .vlen = 1},
	};
	struct op three[] = {
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "d",
		 .klen = 1,
		 .val = "3",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_NODES,
		 .key = "n",
		 .klen = 1,
		 .val = "3",
		 .vlen = 1},
	};

	d[0] = zero_digest();
	put_rows(1, STORE_PROCS, one, 2);
	d[1] = store_digest(&fx.s);
	assert_ok(apply_ops(&fx.s, 2, two, 3));
	d[2] = store_digest(&fx.s);
	assert_ok(apply_ops(&fx.s, 3, three, 2));
	d[3] = store_digest(&fx.s);
	assert_ok(apply_put(&fx.s, 4, STORE_PROCS, K("a"), K("4")));
	d[4] = store_digest(&fx.s);
}

START_TEST(test_store_rewind_restores_state_at_target)
{
	struct hash128 d[5];

	history_1_to_4(d);
	assert_ok(apply_rewind(&fx.s, 5, 2));
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=2 c=2");
	assert_scan(STORE_NODES, STORE_AT_LATEST, "");
	assert_digest_eq(store_digest(&fx.s), d[2]);
	assert_digest_eq(digest_at(5), d[2]);
	/* Nothing is erased: the history before the rewind still reads. */
	assert_scan(STORE_PROCS, 4, "a=4 c=2 d=3");
	assert_scan(STORE_PROCS, 3, "a=2 c=2 d=3");
	assert_scan(STORE_NODES, 4, "n=3");
	assert_digest_eq(digest_at(4), d[4]);
	assert_digest_eq(digest_at(3), d[3]);
}
END_TEST

START_TEST(test_store_rewind_of_rewind_restores_state_before_it)
{
	struct hash128 d[5], d5;

	history_1_to_4(d);
	assert_ok(apply_rewind(&fx.s, 5, 2));
	d5 = store_digest(&fx.s);
	assert_ok(apply_rewind(&fx.s, 6, 4));
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=4 c=2 d=3");
	assert_scan(STORE_NODES, STORE_AT_LATEST, "n=3");
	assert_digest_eq(store_digest(&fx.s), d[4]);
	assert_ok(apply_rewind(&fx.s, 7, 5));
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=2 c=2");
	assert_digest_eq(store_digest(&fx.s), d5);
	assert_ok(apply_rewind(&fx.s, 8, 0));
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "");
	assert_scan(STORE_NODES, STORE_AT_LATEST, "");
	assert_digest_eq(store_digest(&fx.s), zero_digest());
	assert_ok(apply_rewind(&fx.s, 9, 1));
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=1 b=1");
	assert_digest_eq(store_digest(&fx.s), d[1]);
	assert_scan(STORE_PROCS, 6, "a=4 c=2 d=3");
	assert_scan(STORE_PROCS, 8, "");
}
END_TEST

START_TEST(test_store_rewind_combines_with_writes_of_its_index)
{
	struct hash128 d[5];
	struct op ops[] = {
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "x",
		 .klen = 1,
		 .val = "5",
		 .vlen = 1},
		{.kind = OP_DEL, .table = STORE_PROCS, .key = "c", .klen = 1},
		{.kind = OP_REWIND, .target = 2, .check_digest = true},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .val = "5",
		 .vlen = 1},
		{.kind = OP_GET,
		 .table = STORE_PROCS,
		 .key = "x",
		 .klen = 1,
		 .target = 4,
		 .expect = ERR_NOTFOUND},
		{.kind = OP_GET,
		 .table = STORE_PROCS,
		 .key = "c",
		 .klen = 1,
		 .target = 4,
		 .val = "2",
		 .vlen = 1},
	};

	history_1_to_4(d);
	ops[2].digest = d[2];
	assert_ok(apply_ops(&fx.s, 5, ops, sizeof ops / sizeof ops[0]));
	/* x, written before the rewind in the same index, is gone; a, written
	 * after it, stays. */
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=5 c=2");
	assert_scan(STORE_PROCS, 4, "a=4 c=2 d=3");
	assert_digest_eq(store_digest(&fx.s), recompute_digest(STORE_AT_LATEST));
	assert_ok(apply_rewind(&fx.s, 6, 4));
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=4 c=2 d=3");
	assert_digest_eq(store_digest(&fx.s), d[4]);
}
END_TEST

START_TEST(test_store_compact_drops_history_at_or_below_target)
{
	struct hash128 d10;
	uint64_t i;

	for (i = 1; i <= 5; i++) {
		char v = (char)('0' + i);

		assert_ok(apply_put(&fx.s, i, STORE_PROCS, K("a"), &v, 1));
	}
	assert_ok(apply_compact(&fx.s, 6, 3));
	ck_assert_uint_eq(store_oldest_index(&fx.s), 3);
	assert_get(STORE_PROCS, K("a"), 3, "3");
	assert_get(STORE_PROCS, K("a"), 4, "4");
	assert_get(STORE_PROCS, K("a"), 6, "5");
	ck_assert_int_eq(read_get(&fx.s, STORE_PROCS, K("a"), 2, &out), ERR_RANGE);
	/* At or below the oldest index: a no-op. */
	assert_ok(apply_compact(&fx.s, 7, 2));
	assert_ok(apply_compact(&fx.s, 8, 3));
	ck_assert_uint_eq(store_oldest_index(&fx.s), 3);
	assert_ok(apply_rewind(&fx.s, 9, 3));
	assert_get(STORE_PROCS, K("a"), STORE_AT_LATEST, "3");

	/* Compacting to a skipped index keeps the last applied state below it. */
	assert_ok(apply_put(&fx.s, 10, STORE_PROCS, K("a"), K("10")));
	d10 = store_digest(&fx.s);
	assert_ok(apply_put(&fx.s, 20, STORE_PROCS, K("a"), K("20")));
	assert_ok(apply_compact(&fx.s, 21, 15));
	ck_assert_uint_eq(store_oldest_index(&fx.s), 15);
	assert_get(STORE_PROCS, K("a"), 15, "10");
	assert_get(STORE_PROCS, K("a"), 19, "10");
	assert_get(STORE_PROCS, K("a"), 20, "20");
	assert_digest_eq(digest_at(15), d10);
	assert_ok(apply_rewind(&fx.s, 22, 15));
	assert_get(STORE_PROCS, K("a"), STORE_AT_LATEST, "10");
	assert_digest_eq(store_digest(&fx.s), d10);
}
END_TEST

START_TEST(test_store_noop_writes_change_nothing)
{
	struct hash128 d1;
	struct op ops[] = {
		{.kind = OP_DEL, .table = STORE_PROCS, .key = "b", .klen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .val = "1",
		 .vlen = 1},
		{.kind = OP_DEL, .table = STORE_RESULTS, .key = "b", .klen = 1},
	};

	assert_ok(apply_put(&fx.s, 1, STORE_PROCS, K("a"), K("1")));
	d1 = store_digest(&fx.s);
	assert_ok(apply_ops(&fx.s, 2, ops, 3));
	ck_assert_uint_eq(store_applied_index(&fx.s), 2);
	assert_digest_eq(store_digest(&fx.s), d1);
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=1");
	assert_scan(STORE_PROCS, 1, "a=1");
}
END_TEST

START_TEST(test_store_empty_value_is_not_absent)
{
	struct hash128 d1;

	assert_ok(apply_put(&fx.s, 1, STORE_PROCS, K("a"), K("1")));
	d1 = store_digest(&fx.s);
	assert_ok(apply_put(&fx.s, 2, STORE_PROCS, K("e"), "", 0));
	assert_digest_eq(store_digest(&fx.s),
			 digest_add(d1, test_row_hash(STORE_PROCS, K("e"), "", 0)));
	ck_assert(!digest_equal(store_digest(&fx.s), d1));
	assert_ok(apply_put(&fx.s, 3, STORE_PROCS, K("a"), "", 0));
	assert_ok(apply_del(&fx.s, 4, STORE_PROCS, K("e")));
	assert_get(STORE_PROCS, K("e"), 1, NULL);
	assert_get(STORE_PROCS, K("e"), 2, "");
	assert_get(STORE_PROCS, K("e"), 3, "");
	assert_get(STORE_PROCS, K("e"), 4, NULL);
	assert_get(STORE_PROCS, K("a"), 2, "1");
	assert_get(STORE_PROCS, K("a"), 3, "");
	assert_scan(STORE_PROCS, 3, "a= e=");
	assert_ok(apply_rewind(&fx.s, 5, 2));
	assert_scan(STORE_PROCS, STORE_AT_LATEST, "a=1 e=");
}
END_TEST

START_TEST(test_store_read_txn_reports_committed_metadata)
{
	struct store_txn t;

	assert_ok(apply_put(&fx.s, 3, STORE_PROCS, K("a"), K("1")));
	assert_ok(apply_compact(&fx.s, 5, 2));
	assert_ok(store_read(&fx.s, &t));
	ck_assert(!t.write);
	ck_assert_uint_eq(t.index, 5);
	ck_assert_uint_eq(t.oldest, 2);
	assert_digest_eq(t.digest, store_digest(&fx.s));
	store_read_end(&t);
	store_read_end(&t); /* Ending twice is harmless. */
}
END_TEST

START_TEST(test_store_table_names)
{
	int i, j;

	ck_assert_str_eq(store_table_name(STORE_PROCS), "procs");
	ck_assert_str_eq(store_table_name(STORE_LOG), "log");
	ck_assert_ptr_null(store_table_name(-1));
	ck_assert_ptr_null(store_table_name(STORE_N_TABLES));
	for (i = 0; i < STORE_N_TABLES; i++) {
		ck_assert_ptr_nonnull(store_table_name(i));
		for (j = 0; j < i; j++)
			ck_assert_str_ne(store_table_name(i), store_table_name(j));
		ck_assert(store_table_is_versioned(i) == (i < STORE_N_VERSIONED));
	}
	ck_assert(store_table_is_versioned(STORE_IDEM));
	ck_assert(!store_table_is_versioned(STORE_RESULTS));
	ck_assert(!store_table_is_versioned(-1));
}
END_TEST

/* Valgrind cannot reserve the default 64 GiB map (LD_PRELOAD names its
 * preloaded core when it runs us). */
static bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p != NULL && strstr(p, "vgpreload") != NULL;
}

START_TEST(test_store_open_with_default_options)
{
	if (under_valgrind())
		return;
	fixture_open(&fx, NULL);
	fixture_close(&fx);
	ck_assert_int_eq(store_open(&fx.s, fx.dir, NULL), 0);
	fx.open = true;
	ck_assert_uint_eq(fx.s.map_size, (size_t)64 << 30);
	ck_assert_uint_eq(fx.s.map_size_max, (size_t)1024 << 30);
	assert_ok(apply_put(&fx.s, 1, STORE_PROCS, K("a"), K("1")));
	assert_get(STORE_PROCS, K("a"), STORE_AT_LATEST, "1");
}
END_TEST

START_TEST(test_store_open_fails_on_bad_path)
{
	char path[PATH_MAX + 16];
	struct store s;
	FILE *f;

	/* A regular file where the directory should be. */
	snprintf(path, sizeof path, "%s/file", fx.dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(path, sizeof path, "%s/file/store", fx.dir);
	ck_assert_int_eq(store_open(&s, path, NULL), ERR_IO);
	ck_assert_msg(strstr(s.errmsg, "open store '") != NULL && strstr(s.errmsg, path) != NULL,
		      "%s", s.errmsg);
}
END_TEST

START_TEST(test_store_open_creates_private_directory)
{
	char path[PATH_MAX + 16];
	struct stat st;
	mode_t mask = umask(022);

	snprintf(path, sizeof path, "%s/new", fx.dir);
	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert_int_eq(store_open(&fx.s, path, &test_options), 0);
	fx.open = true;
	umask(mask);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
}
END_TEST

/* Writes a meta "state" record with raw LMDB, as a damaged or newer store. */
static void write_raw_state(const char *dir, uint32_t format, size_t len)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t rec[64];
	MDB_val k = {5, (void *)"state"}, v = {len, rec};

	memset(rec, 0, sizeof rec);
	be32_put(rec, format);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 32), 0);
	ck_assert_int_eq(mdb_env_set_mapsize(env, 1 << 20), 0);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi), 0);
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

START_TEST(test_store_open_rejects_newer_or_damaged_format)
{
	struct store s;

	write_raw_state(fx.dir, 2, 36);
	memset(&s, 0, sizeof s);
	ck_assert_int_eq(store_open(&s, fx.dir, &test_options), ERR_UNSUPPORTED);
	ck_assert_msg(strstr(s.errmsg, "format 2") != NULL, "%s", s.errmsg);
	ck_assert_msg(strstr(s.errmsg, fx.dir) != NULL, "%s", s.errmsg);
	write_raw_state(fx.dir, 1, 35);
	ck_assert_int_eq(store_open(&s, fx.dir, &test_options), ERR_CORRUPT);
	ck_assert_msg(strstr(s.errmsg, "35") != NULL, "%s", s.errmsg);
	write_raw_state(fx.dir, 1, 36);
	fixture_open(&fx, NULL);
	ck_assert_uint_eq(store_applied_index(&fx.s), 0);
}
END_TEST

Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("basics");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_store_open_is_empty);
	tcase_add_test(tc, test_store_put_get_del);
	tcase_add_test(tc, test_store_get_at_past_indexes);
	tcase_add_test(tc, test_store_get_at_skipped_index_sees_last_applied);
	tcase_add_test(tc, test_store_scan_prefix_and_seek);
	tcase_add_test(tc, test_store_iter_seek_repositions);
	tcase_add_test(tc, test_store_scan_at_past_index);
	tcase_add_test(tc, test_store_write_txn_reads_its_own_writes);
	tcase_add_test(tc, test_store_unversioned_tables_are_not_rewound);
	tcase_add_test(tc, test_store_unversioned_tables_are_not_in_digest);
	tcase_add_test(tc, test_store_read_above_applied_is_range_error);
	tcase_add_test(tc, test_store_read_below_oldest_is_range_error);
	tcase_add_test(tc, test_store_key_too_big_changes_nothing);
	tcase_add_test(tc, test_store_longest_keys_work_at_all_indexes);
	tcase_add_test(tc, test_store_invalid_arguments);
	tcase_add_test(tc, test_store_keys_with_zero_bytes_and_prefixes);
	tcase_add_test(tc, test_store_reapplied_index_is_skipped);
	tcase_add_test(tc, test_store_reopen_keeps_state);
	tcase_add_test(tc, test_store_callback_error_aborts_index);
	tcase_add_test(tc, test_store_rewind_out_of_range_is_rejected);
	tcase_add_test(tc, test_store_digest_at_each_index);
	tcase_add_test(tc, test_store_rewind_restores_state_at_target);
	tcase_add_test(tc, test_store_rewind_of_rewind_restores_state_before_it);
	tcase_add_test(tc, test_store_rewind_combines_with_writes_of_its_index);
	tcase_add_test(tc, test_store_compact_drops_history_at_or_below_target);
	tcase_add_test(tc, test_store_noop_writes_change_nothing);
	tcase_add_test(tc, test_store_empty_value_is_not_absent);
	tcase_add_test(tc, test_store_read_txn_reports_committed_metadata);
	tcase_add_test(tc, test_store_table_names);
	suite_add_tcase(s, tc);

	/* Tests that open their own stores (or fork before opening one). */
	tc = tcase_create("lifecycle");
	tcase_add_checked_fixture(tc, setup_dir, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_store_crash_keeps_last_committed_index);
	tcase_add_test(tc, test_store_reopen_without_writes_is_empty);
	tcase_add_test(tc, test_store_map_grows_when_full);
	tcase_add_test(tc, test_store_map_full_at_maximum_keeps_state);
	tcase_add_test(tc, test_store_open_with_default_options);
	tcase_add_test(tc, test_store_open_fails_on_bad_path);
	tcase_add_test(tc, test_store_open_creates_private_directory);
	tcase_add_test(tc, test_store_open_rejects_newer_or_damaged_format);
	suite_add_tcase(s, tc);
	return s;
}
