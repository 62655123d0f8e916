/*
 * Tests of store_snapshot()/store_restore() (statestore/store.h) and of the
 * state-machine interface over the store (common/sm.h): a restored store is
 * indistinguishable from the original (contents, history, digests, and what
 * both do with the same further indexes); restore replaces a non-empty store
 * entirely; and every damaged snapshot (flipped bytes, truncations, wrong
 * magic or format, tampered rows behind a recomputed checksum) is rejected
 * with a message while the store stays exactly as it was.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/sm.h"
#include "statestore/store.h"
#include "tests/unit/statestore/helpers.h"
#include "tests/unit/statestore/suites.h"

/* The snapshot layout (statestore/snapshot.c), for the tampering tests. */
#define SNAP_HEADER_LEN    44 /* magic 8, format 4, applied 8, oldest 8, digest 16 */
#define SNAP_TRAILER_LEN   16
#define SNAP_HASH_SEED     0x534e4150ULL
#define SNAP_ID_META       100
#define SNAP_ID_HIST_KEY   101
#define SNAP_ID_HIST_INDEX 102
#define SNAP_ID_DIGESTS    103

static struct fixture fa, fb;

/* Two stores, both created in the test's own process. */
static void setup(void)
{
	fixture_init(&fa);
	fixture_open(&fa, NULL);
	fixture_init(&fb);
	fixture_open(&fb, NULL);
}

static void teardown(void)
{
	fixture_release(&fb);
	fixture_release(&fa);
}

#define assert_ok(s, expr)                                                                 \
	do {                                                                               \
		int rc_ = (expr);                                                          \
		ck_assert_msg(rc_ == 0, "%s: %s (%s)", #expr, err_name(rc_), (s)->errmsg); \
	} while (0)

/* Random batches over versioned and unversioned tables. */
struct gen {
	uint64_t rng;
	struct test_key keys[TEST_N_KEYS];
};

static const int gen_tables[] = {STORE_NODES, STORE_PROCS,   STORE_FILES,
				 STORE_IDEM,  STORE_RESULTS, STORE_LOG};

static void gen_init(struct gen *g, uint64_t seed)
{
	g->rng = seed * 0x9e3779b97f4a7c15ULL + 1;
	test_keys_init(g->keys);
}

/*
 * Applies one random index (puts, deletes, rewinds valid and not, compactions,
 * sometimes skipping index numbers) identically to every store of `stores`,
 * which must all be in the same state.
 */
static void gen_index(struct gen *g, struct store **stores, size_t nstores)
{
	uint64_t applied = store_applied_index(stores[0]);
	uint64_t index = applied + 1 + (rng_below(&g->rng, 6) == 0 ? rng_below(&g->rng, 3) : 0);
	uint64_t oldest = store_oldest_index(stores[0]);
	struct op ops[5];
	uint8_t vals[5][TEST_VAL_MAX];
	size_t n = 1 + (size_t)rng_below(&g->rng, 5), i;

	memset(ops, 0, sizeof ops);
	for (i = 0; i < n; i++) {
		struct op *op = &ops[i];
		uint64_t r = rng_below(&g->rng, 100);
		const struct test_key *k = &g->keys[rng_below(&g->rng, TEST_N_KEYS)];

		op->table =
			gen_tables[rng_below(&g->rng, sizeof gen_tables / sizeof gen_tables[0])];
		op->key = k->b;
		op->klen = k->len;
		if (r < 55) {
			op->kind = OP_PUT;
			op->vlen = test_random_value(&g->rng, vals[i]);
			op->val = vals[i];
		} else if (r < 78) {
			op->kind = OP_DEL;
		} else if (r < 88) {
			op->kind = OP_REWIND;
			op->target = oldest + rng_below(&g->rng, index - oldest);
		} else if (r < 93) {
			op->kind = OP_REWIND;
			op->target = index;
			op->expect = ERR_RANGE;
		} else {
			uint64_t back = 1 + rng_below(&g->rng, 40);

			op->kind = OP_COMPACT;
			op->target = index > back ? index - back : 0;
			if (op->target > oldest)
				oldest = op->target;
		}
	}
	for (i = 0; i < nstores; i++)
		assert_ok(stores[i], apply_ops(stores[i], index, ops, n));
}

static void gen_indexes(struct gen *g, struct store **stores, size_t nstores, int count)
{
	int i;

	for (i = 0; i < count; i++)
		gen_index(g, stores, nstores);
}

static void take_snapshot(struct store *s, struct buf *out)
{
	out->len = 0;
	assert_ok(s, store_snapshot(s, out));
}

/* Both stores hold the same rows as of `at`, in every table, and the same
 * digest. */
static void assert_same_at(struct store *a, struct store *b, uint64_t at)
{
	struct store_txn ta, tb;
	struct store_iter ia, ib;
	struct hash128 da, db;
	const void *ka, *va, *kb, *vb;
	size_t kalen, valen, kblen, vblen;
	int table, ra, rb;

	assert_ok(a, store_read(a, &ta));
	assert_ok(b, store_read(b, &tb));
	for (table = 0; table < STORE_N_TABLES; table++) {
		assert_ok(a, store_iter_init(&ia, &ta, table, NULL, 0, at));
		assert_ok(b, store_iter_init(&ib, &tb, table, NULL, 0, at));
		for (;;) {
			ra = store_iter_next(&ia, &ka, &kalen, &va, &valen);
			rb = store_iter_next(&ib, &kb, &kblen, &vb, &vblen);
			ck_assert_msg(ra == rb, "table %d at %" PRIu64 ": %s vs %s", table, at,
				      err_name(ra), err_name(rb));
			if (ra != 0)
				break;
			ck_assert_msg(kalen == kblen && memcmp(ka, kb, kalen) == 0,
				      "table %d at %" PRIu64 ": keys differ", table, at);
			ck_assert_msg(valen == vblen && (valen == 0 || memcmp(va, vb, valen) == 0),
				      "table %d at %" PRIu64 ": values differ", table, at);
		}
		ck_assert_int_eq(ra, ERR_NOTFOUND);
		store_iter_close(&ia);
		store_iter_close(&ib);
	}
	assert_ok(a, store_digest_at(&ta, at, &da));
	assert_ok(b, store_digest_at(&tb, at, &db));
	ck_assert_msg(digest_equal(da, db), "digests at %" PRIu64 " differ", at);
	store_read_end(&ta);
	store_read_end(&tb);
}

/* Same metadata, same snapshot bytes, same reads at every readable index
 * (`sample` > 0: at that many random ones plus both ends). */
static void assert_same(struct store *a, struct store *b, uint64_t *rng, int sample)
{
	struct buf sa, sb;
	uint64_t at, oldest = store_oldest_index(a), applied = store_applied_index(a);
	int i;

	ck_assert_uint_eq(store_applied_index(b), applied);
	ck_assert_uint_eq(store_oldest_index(b), oldest);
	ck_assert(digest_equal(store_digest(a), store_digest(b)));
	buf_init(&sa);
	buf_init(&sb);
	take_snapshot(a, &sa);
	take_snapshot(b, &sb);
	ck_assert_uint_eq(sa.len, sb.len);
	ck_assert_msg(memcmp(sa.data, sb.data, sa.len) == 0, "snapshots differ");
	buf_release(&sa);
	buf_release(&sb);
	if (sample == 0) {
		for (at = oldest; at <= applied; at++)
			assert_same_at(a, b, at);
	} else {
		for (i = 0; i < sample; i++)
			assert_same_at(a, b, oldest + rng_below(rng, applied - oldest + 1));
		assert_same_at(a, b, oldest);
	}
	assert_same_at(a, b, STORE_AT_LATEST);
}

/* What must not change when a restore fails. */
struct image {
	uint64_t applied, oldest;
	struct hash128 digest;
	struct buf snap;
};

static void image_take(struct store *s, struct image *im)
{
	im->applied = store_applied_index(s);
	im->oldest = store_oldest_index(s);
	im->digest = store_digest(s);
	buf_init(&im->snap);
	take_snapshot(s, &im->snap);
}

/* The cached metadata always; the whole contents when `deep`. */
static void assert_image(struct store *s, const struct image *im, bool deep, const char *what)
{
	struct buf now;

	ck_assert_msg(store_applied_index(s) == im->applied, "%s: applied index changed", what);
	ck_assert_msg(store_oldest_index(s) == im->oldest, "%s: oldest index changed", what);
	ck_assert_msg(digest_equal(store_digest(s), im->digest), "%s: digest changed", what);
	if (!deep)
		return;
	buf_init(&now);
	take_snapshot(s, &now);
	ck_assert_msg(now.len == im->snap.len && memcmp(now.data, im->snap.data, now.len) == 0,
		      "%s: contents changed", what);
	buf_release(&now);
}

/* Restores a damaged snapshot into `s`: it must fail with `want` (or, when
 * `want` is 0, with ERR_CORRUPT or ERR_UNSUPPORTED), say why, and change
 * nothing. */
static void assert_rejected(struct store *s, const struct image *im, const void *buf, size_t len,
			    int want, bool deep, const char *what)
{
	int rc;

	s->errmsg[0] = '\0';
	rc = store_restore(s, buf, len);
	if (want != 0)
		ck_assert_msg(rc == want, "%s: restore returned %s, expected %s (%s)", what,
			      err_name(rc), err_name(want), s->errmsg);
	else
		ck_assert_msg(rc == ERR_CORRUPT || rc == ERR_UNSUPPORTED,
			      "%s: restore returned %s (%s)", what, err_name(rc), s->errmsg);
	ck_assert_msg(s->errmsg[0] != '\0', "%s: no message", what);
	assert_image(s, im, deep, what);
}

/* A small store: three rows in procs, history, a rewind and a compaction. */
static void small_store(struct store *s)
{
	struct op one[] = {
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "a",
		 .klen = 1,
		 .val = "1",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "b",
		 .klen = 1,
		 .val = "1",
		 .vlen = 1},
		{.kind = OP_PUT,
		 .table = STORE_PROCS,
		 .key = "c",
		 .klen = 1,
		 .val = "1",
		 .vlen = 1},
		{.kind = OP_PUT, .table = STORE_LOG, .key = "1", .klen = 1, .val = "x", .vlen = 1},
	};

	assert_ok(s, apply_ops(s, 1, one, 4));
	assert_ok(s, apply_put(s, 2, STORE_PROCS, K("b"), K("2")));
	assert_ok(s, apply_rewind(s, 3, 1));
	assert_ok(s, apply_compact(s, 4, 1));
}

/* The offset of the first record of database `id` and its record count. */
static size_t find_db(const uint8_t *p, size_t len, uint8_t id, uint64_t *count)
{
	size_t off = SNAP_HEADER_LEN;
	uint64_t n, j;

	while (off + 9 <= len - SNAP_TRAILER_LEN) {
		uint8_t did = p[off];

		n = be64_get(p + off + 1);
		off += 9;
		if (did == id) {
			*count = n;
			return off;
		}
		for (j = 0; j < n; j++)
			off += 8 + be32_get(p + off) + be32_get(p + off + 4);
	}
	ck_abort_msg("no database %u in the snapshot", id);
	return 0;
}

/* Recomputes the trailer, so that only the checks behind the hash remain. */
static void rehash(uint8_t *p, size_t len)
{
	digest_put(p + len - SNAP_TRAILER_LEN, hash128(p, len - SNAP_TRAILER_LEN, SNAP_HASH_SEED));
}

START_TEST(test_snapshot_round_trip_then_same_future)
{
	struct store *a = &fa.s, *both[2];
	struct gen g;
	struct buf snap;
	uint64_t rng = 99;

	gen_init(&g, test_seed());
	gen_indexes(&g, &a, 1, 300);
	ck_assert_uint_gt(store_oldest_index(a), 0); /* Compaction happened. */
	buf_init(&snap);
	take_snapshot(a, &snap);
	assert_ok(&fb.s, store_restore(&fb.s, snap.data, snap.len));
	assert_same(a, &fb.s, &rng, 0);

	/* Restored means durable: the same after reopening. */
	fixture_close(&fb);
	fixture_open(&fb, NULL);
	assert_same(a, &fb.s, &rng, 40);

	both[0] = a;
	both[1] = &fb.s;
	gen_indexes(&g, both, 2, 200);
	assert_same(a, &fb.s, &rng, 0);
	buf_release(&snap);
}
END_TEST

START_TEST(test_snapshot_restore_replaces_non_empty_store)
{
	struct store *a = &fa.s, *b = &fb.s;
	struct gen ga, gb;
	struct buf snap, out;
	uint64_t rng = 5, b_applied;
	struct store_txn t;
	const void *v;
	size_t vlen;

	gen_init(&ga, test_seed() + 1);
	gen_init(&gb, test_seed() + 2);
	gen_indexes(&ga, &a, 1, 100);
	gen_indexes(&gb, &b, 1, 150);
	b_applied = store_applied_index(b);
	ck_assert_uint_gt(b_applied, store_applied_index(a));
	buf_init(&snap);
	take_snapshot(a, &snap);
	assert_ok(b, store_restore(b, snap.data, snap.len));
	assert_same(a, b, &rng, 0);
	/* b's own later indexes are gone with the rest. */
	assert_ok(b, store_read(b, &t));
	ck_assert_int_eq(store_get(&t, STORE_PROCS, K("a"), b_applied, &v, &vlen), ERR_RANGE);
	store_read_end(&t);

	/* The snapshot of an empty store empties it. */
	fixture_release(&fa);
	fixture_init(&fa);
	fixture_open(&fa, NULL);
	take_snapshot(&fa.s, &snap);
	assert_ok(b, store_restore(b, snap.data, snap.len));
	ck_assert_uint_eq(store_applied_index(b), 0);
	ck_assert_uint_eq(store_oldest_index(b), 0);
	ck_assert_uint_eq(store_digest(b).hi, 0);
	ck_assert_uint_eq(store_digest(b).lo, 0);
	buf_init(&out);
	assert_ok(b, read_scan(b, STORE_PROCS, NULL, 0, NULL, 0, STORE_AT_LATEST, &out));
	ck_assert_str_eq(buf_str(&out), "");
	assert_ok(b, read_scan(b, STORE_LOG, NULL, 0, NULL, 0, STORE_AT_LATEST, &out));
	ck_assert_str_eq(buf_str(&out), "");
	assert_same(&fa.s, b, &rng, 0);
	/* And the emptied store starts again from index 1. */
	assert_ok(b, apply_put(b, 1, STORE_PROCS, K("a"), K("1")));
	buf_release(&out);
	buf_release(&snap);
}
END_TEST

START_TEST(test_snapshot_flipped_bytes_are_rejected)
{
	struct buf snap;
	struct image im;
	uint8_t *bad;
	size_t p;
	int f;
	char what[64];
	static const uint8_t flips[] = {0x01, 0x80, 0xff};

	small_store(&fa.s);
	small_store(&fb.s);
	assert_ok(&fb.s, apply_put(&fb.s, 5, STORE_NODES, K("mine"), K("b")));
	buf_init(&snap);
	take_snapshot(&fa.s, &snap);
	ck_assert_uint_lt(snap.len, 4096); /* Small: every byte is tried. */
	image_take(&fb.s, &im);
	bad = malloc(snap.len);
	ck_assert_ptr_nonnull(bad);
	for (p = 0; p < snap.len; p++) {
		for (f = 0; f < 3; f++) {
			memcpy(bad, snap.data, snap.len);
			bad[p] ^= flips[f];
			snprintf(what, sizeof what, "byte %zu ^ 0x%02x of %zu", p, flips[f],
				 snap.len);
			/* The format version is checked before the hash. */
			assert_rejected(&fb.s, &im, bad, snap.len,
					p >= 8 && p < 12 ? ERR_UNSUPPORTED : ERR_CORRUPT, f == 0,
					what);
		}
	}
	assert_image(&fb.s, &im, true, "after all flips");
	/* The intact snapshot is accepted; fb applied past it on the same log,
	 * so it keeps its state (test_snapshot_restore_of_a_state_passed). */
	assert_ok(&fb.s, store_restore(&fb.s, snap.data, snap.len));
	ck_assert_uint_eq(store_applied_index(&fb.s), 5);
	free(bad);
	buf_release(&im.snap);
	buf_release(&snap);
}
END_TEST

START_TEST(test_snapshot_truncated_is_rejected)
{
	struct buf snap;
	struct image im;
	size_t len;
	char what[64];

	small_store(&fa.s);
	assert_ok(&fb.s, apply_put(&fb.s, 1, STORE_NODES, K("mine"), K("b")));
	buf_init(&snap);
	take_snapshot(&fa.s, &snap);
	image_take(&fb.s, &im);
	for (len = 0; len < snap.len; len++) {
		snprintf(what, sizeof what, "first %zu of %zu bytes", len, snap.len);
		assert_rejected(&fb.s, &im, snap.data, len, ERR_CORRUPT, len % 16 == 0, what);
	}
	assert_rejected(&fb.s, &im, NULL, 0, ERR_CORRUPT, true, "NULL buffer");
	assert_rejected(&fb.s, &im, "", 0, ERR_CORRUPT, true, "empty buffer");
	assert_rejected(&fb.s, &im, "LOGOSNP1", 8, ERR_CORRUPT, true, "magic only");
	buf_release(&im.snap);
	buf_release(&snap);
}
END_TEST

START_TEST(test_snapshot_large_damaged_samples_are_rejected)
{
	struct store *a = &fa.s;
	struct gen g;
	struct buf snap;
	struct image im;
	uint8_t *bad;
	uint64_t rng = 77;
	size_t p, len;
	int i;
	char what[64];

	gen_init(&g, test_seed() + 3);
	gen_indexes(&g, &a, 1, 200);
	gen_init(&g, test_seed() + 4);
	gen_indexes(&g, (struct store *[]){&fb.s}, 1, 20);
	buf_init(&snap);
	take_snapshot(a, &snap);
	ck_assert_uint_gt(snap.len, 8192);
	image_take(&fb.s, &im);
	bad = malloc(snap.len + 1);
	ck_assert_ptr_nonnull(bad);
	/* 300 flips: the header, the trailer and random places between. */
	for (i = 0; i < 300; i++) {
		p = i < 64   ? (size_t)i
		    : i < 96 ? snap.len - 1 - (size_t)(i - 64)
			     : (size_t)rng_below(&rng, snap.len);
		memcpy(bad, snap.data, snap.len);
		bad[p] ^= (uint8_t)(1 + rng_below(&rng, 255));
		snprintf(what, sizeof what, "flip at %zu of %zu", p, snap.len);
		assert_rejected(&fb.s, &im, bad, snap.len,
				p >= 8 && p < 12 ? ERR_UNSUPPORTED : ERR_CORRUPT, i % 50 == 0,
				what);
	}
	/* 250 truncations, and one byte too many. */
	for (i = 0; i < 250; i++) {
		len = i < 64   ? (size_t)i
		      : i < 96 ? snap.len - 1 - (size_t)(i - 64)
			       : (size_t)rng_below(&rng, snap.len);
		snprintf(what, sizeof what, "first %zu of %zu bytes", len, snap.len);
		assert_rejected(&fb.s, &im, snap.data, len, ERR_CORRUPT, i % 50 == 0, what);
	}
	memcpy(bad, snap.data, snap.len);
	bad[snap.len] = 0;
	assert_rejected(&fb.s, &im, bad, snap.len + 1, ERR_CORRUPT, true, "one byte too many");
	assert_image(&fb.s, &im, true, "after all");
	free(bad);
	buf_release(&im.snap);
	buf_release(&snap);
}
END_TEST

START_TEST(test_snapshot_wrong_magic_or_format_is_rejected)
{
	struct buf snap;
	struct image im;
	uint8_t *bad;

	small_store(&fa.s);
	assert_ok(&fb.s, apply_put(&fb.s, 1, STORE_NODES, K("mine"), K("b")));
	buf_init(&snap);
	take_snapshot(&fa.s, &snap);
	ck_assert_mem_eq(snap.data, "LOGOSNP1", 8);
	ck_assert_uint_eq(be32_get(snap.data + 8), 1);
	image_take(&fb.s, &im);
	bad = malloc(snap.len);
	ck_assert_ptr_nonnull(bad);

	memcpy(bad, snap.data, snap.len);
	memcpy(bad, "LOGOSNP2", 8);
	rehash(bad, snap.len);
	assert_rejected(&fb.s, &im, bad, snap.len, ERR_CORRUPT, true, "magic");
	ck_assert_msg(strstr(fb.s.errmsg, "not a logos snapshot") != NULL, "%s", fb.s.errmsg);

	memcpy(bad, snap.data, snap.len);
	be32_put(bad + 8, 2);
	assert_rejected(&fb.s, &im, bad, snap.len, ERR_UNSUPPORTED, true, "format 2");
	ck_assert_msg(strstr(fb.s.errmsg, "format 2") != NULL, "%s", fb.s.errmsg);
	rehash(bad, snap.len);
	assert_rejected(&fb.s, &im, bad, snap.len, ERR_UNSUPPORTED, true, "format 2, rehashed");
	be32_put(bad + 8, 0);
	rehash(bad, snap.len);
	assert_rejected(&fb.s, &im, bad, snap.len, ERR_UNSUPPORTED, true, "format 0, rehashed");
	free(bad);
	buf_release(&im.snap);
	buf_release(&snap);
}
END_TEST

/* Applies `tamper` to a copy of the small snapshot, recomputes its checksum,
 * and expects ERR_CORRUPT with `msg` in the message. */
static void assert_tamper_rejected(const struct buf *snap, const struct image *im,
				   void (*tamper)(uint8_t *p, size_t *len), const char *msg)
{
	uint8_t *bad;
	size_t len = snap->len;

	bad = malloc(snap->len + 64);
	ck_assert_ptr_nonnull(bad);
	memcpy(bad, snap->data, snap->len);
	tamper(bad, &len);
	rehash(bad, len);
	assert_rejected(&fb.s, im, bad, len, ERR_CORRUPT, true, msg);
	ck_assert_msg(strstr(fb.s.errmsg, msg) != NULL, "expected '%s' in '%s'", msg, fb.s.errmsg);
	free(bad);
}

/* The value of the first row of procs ("a" = "1") becomes "2". */
static void tamper_row_value(uint8_t *p, size_t *len)
{
	uint64_t count;
	size_t off = find_db(p, *len, STORE_PROCS, &count);

	ck_assert_uint_eq(count, 3);
	ck_assert_uint_eq(be32_get(p + off), 1);
	ck_assert_uint_eq(be32_get(p + off + 4), 1);
	ck_assert_mem_eq(p + off + 8, "a1", 2);
	p[off + 9] = '2';
}

/* The header claims another applied index than its meta record. */
static void tamper_header_index(uint8_t *p, size_t *len)
{
	be64_put(p + 12, be64_get(p + 12) + 1);
}

/* The first key of procs ("a") becomes "\xff", above the next one. */
static void tamper_key_order(uint8_t *p, size_t *len)
{
	uint64_t count;
	size_t off = find_db(p, *len, STORE_PROCS, &count);

	p[off + 8] = 0xff;
}

/* A key length of 0 in the history index. */
static void tamper_key_length(uint8_t *p, size_t *len)
{
	uint64_t count;
	size_t off = find_db(p, *len, SNAP_ID_HIST_INDEX, &count);

	ck_assert_uint_gt(count, 0);
	be32_put(p + off, 0);
}

/* The meta database announces one record more than it has. */
static void tamper_count(uint8_t *p, size_t *len)
{
	uint64_t count;
	size_t off = find_db(p, *len, SNAP_ID_META, &count);

	be64_put(p + off - 8, count + 1);
}

/* The first database has another id. */
static void tamper_db_id(uint8_t *p, size_t *len)
{
	p[SNAP_HEADER_LEN] = 42;
}

/* A byte after the last database, before the trailer. */
static void tamper_extra_byte(uint8_t *p, size_t *len)
{
	memmove(p + *len - SNAP_TRAILER_LEN + 1, p + *len - SNAP_TRAILER_LEN, SNAP_TRAILER_LEN);
	p[*len - SNAP_TRAILER_LEN] = 0;
	(*len)++;
}

/* The offset of the last record of database `id` (which has records). */
static size_t last_record(const uint8_t *p, size_t len, uint8_t id)
{
	uint64_t count, j;
	size_t off = find_db(p, len, id, &count);

	ck_assert_uint_gt(count, 0);
	for (j = 0; j + 1 < count; j++)
		off += 8 + be32_get(p + off) + be32_get(p + off + 4);
	return off;
}

/* The last history record is of index UINT64_MAX (keys stay in order). A
 * fuzzed snapshot like this one was accepted, and a scan as of an older
 * index then looped forever on it. */
static void tamper_history_index_max(uint8_t *p, size_t *len)
{
	size_t off = last_record(p, *len, SNAP_ID_HIST_KEY);

	be64_put(p + off + 8 + be32_get(p + off) - 8, UINT64_MAX);
}

/* The first history record is of index 1, at or below the oldest index (1). */
static void tamper_history_index_compacted(uint8_t *p, size_t *len)
{
	uint64_t count;
	size_t off = find_db(p, *len, SNAP_ID_HIST_KEY, &count);

	be64_put(p + off + 8 + be32_get(p + off) - 8, 1);
}

/* The history record's value has an unknown tag. */
static void tamper_history_tag(uint8_t *p, size_t *len)
{
	size_t off = last_record(p, *len, SNAP_ID_HIST_KEY);

	ck_assert_uint_gt(be32_get(p + off + 4), 0);
	p[off + 8 + be32_get(p + off)] = 7;
}

/* The last digest record is of an index above the applied one. */
static void tamper_digest_index(uint8_t *p, size_t *len)
{
	size_t off = last_record(p, *len, SNAP_ID_DIGESTS);

	be64_put(p + off + 8, 1000);
}

/*
 * raft hands its last snapshot over at every start, to a store that has
 * usually applied past it on the same log: nothing is replaced (no commit),
 * and the entries after it are then skipped. A store whose digest at that
 * index differs (another history, or one that lost its last transactions) is
 * replaced.
 */
START_TEST(test_snapshot_restore_of_a_state_passed)
{
	struct buf snap, out;
	uint64_t commits;

	buf_init(&out);
	small_store(&fa.s);
	buf_init(&snap);
	take_snapshot(&fa.s, &snap);
	assert_ok(&fa.s, apply_put(&fa.s, 5, STORE_NODES, K("mine"), K("a")));
	commits = fa.s.commits;
	assert_ok(&fa.s, store_restore(&fa.s, snap.data, snap.len));
	ck_assert_uint_eq(store_applied_index(&fa.s), 5);
	ck_assert_uint_eq(fa.s.commits, commits);
	assert_ok(&fa.s, apply_put(&fa.s, 5, STORE_NODES, K("mine"), K("z"))); /* skipped */
	ck_assert_int_eq(read_get(&fa.s, STORE_NODES, K("mine"), STORE_AT_LATEST, &out), 0);
	ck_assert_str_eq((char *)out.data, "a");

	/* Another history up to the same index: replaced. */
	assert_ok(&fb.s, apply_put(&fb.s, 1, STORE_NODES, K("other"), K("b")));
	assert_ok(&fb.s, apply_put(&fb.s, 6, STORE_NODES, K("mine"), K("b")));
	assert_ok(&fb.s, store_restore(&fb.s, snap.data, snap.len));
	ck_assert_uint_eq(store_applied_index(&fb.s), 4);
	ck_assert_int_eq(read_get(&fb.s, STORE_NODES, K("other"), STORE_AT_LATEST, &out),
			 ERR_NOTFOUND);
	buf_release(&out);
	buf_release(&snap);
}
END_TEST

START_TEST(test_snapshot_tampered_behind_valid_checksum_is_rejected)
{
	struct buf snap;
	struct image im;

	small_store(&fa.s);
	small_store(&fb.s);
	assert_ok(&fb.s, apply_put(&fb.s, 5, STORE_NODES, K("mine"), K("b")));
	buf_init(&snap);
	take_snapshot(&fa.s, &snap);
	image_take(&fb.s, &im);
	assert_tamper_rejected(&snap, &im, tamper_row_value, "digest");
	assert_tamper_rejected(&snap, &im, tamper_header_index, "disagrees");
	assert_tamper_rejected(&snap, &im, tamper_key_order, "out of order");
	assert_tamper_rejected(&snap, &im, tamper_key_length, "key of 0 bytes");
	assert_tamper_rejected(&snap, &im, tamper_count, "snapshot:");
	assert_tamper_rejected(&snap, &im, tamper_db_id, "has id 42");
	assert_tamper_rejected(&snap, &im, tamper_extra_byte, "unexpected bytes");
	assert_tamper_rejected(&snap, &im, tamper_history_index_max, "outside the readable range");
	assert_tamper_rejected(&snap, &im, tamper_history_index_compacted,
			       "outside the readable range");
	assert_tamper_rejected(&snap, &im, tamper_history_tag, "malformed history record");
	assert_tamper_rejected(&snap, &im, tamper_digest_index, "above the applied index");
	buf_release(&im.snap);
	buf_release(&snap);
}
END_TEST

/* Eight indexes of 128 writes of 2 KiB in files (100 distinct rows each, some
 * written twice in their index): a snapshot of over 1 MiB. */
static void big_store(struct store *s)
{
	static uint8_t vals[128][2048];
	static char keys[128][16];
	struct op ops[128];
	uint64_t rng = 3, index;
	size_t i, j;

	for (index = 1; index <= 8; index++) {
		memset(ops, 0, sizeof ops);
		for (i = 0; i < 128; i++) {
			snprintf(keys[i], sizeof keys[i], "f/%zu",
				 (size_t)(index * 1000 + i % 100));
			for (j = 0; j < sizeof vals[i]; j++)
				vals[i][j] = (uint8_t)rng_next(&rng);
			ops[i].kind = OP_PUT;
			ops[i].table = STORE_FILES;
			ops[i].key = keys[i];
			ops[i].klen = strlen(keys[i]);
			ops[i].val = vals[i];
			ops[i].vlen = sizeof vals[i];
		}
		assert_ok(s, apply_ops(s, index, ops, 128));
	}
}

/* A snapshot written on another thread (as consensus/snapshot.c does). */
struct writer {
	pthread_t thread;
	struct store_snapshot *snap;
	struct buf out;
	int rc;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;

	w->rc = store_snapshot_write(w->snap, &w->out);
	return NULL;
}

static void writer_start(struct writer *w, struct store *s)
{
	buf_init(&w->out);
	assert_ok(s, store_snapshot_begin(s, &w->snap));
	ck_assert_int_eq(pthread_create(&w->thread, NULL, writer_run, w), 0);
}

static void writer_join(struct writer *w)
{
	ck_assert_int_eq(pthread_join(w->thread, NULL), 0);
	ck_assert_msg(w->rc == 0, "%s", store_snapshot_errmsg(w->snap));
	store_snapshot_end(w->snap);
}

/*
 * A snapshot in parts holds the state of its begin, while the store goes on
 * applying on its own thread, even when that grows the map under the writer
 * (the growth waits for the read to end); one at a time.
 */
START_TEST(test_snapshot_in_parts_holds_the_state_of_its_begin)
{
	struct store_options small = {.map_size = 256 << 10, .map_size_max = (size_t)1 << 30};
	struct store_snapshot *second;
	struct writer w;
	struct hash128 at4;
	int index;

	fixture_close(&fa);
	fixture_open(&fa, &small);
	small_store(&fa.s);
	writer_start(&w, &fa.s);
	ck_assert_int_eq(store_snapshot_begin(&fa.s, &second), ERR_BUSY);
	/* Writes of 2 KiB values in 60 indexes: past the 256 KiB map. */
	for (index = 5; index < 65; index++) {
		static uint8_t val[2048];
		char key[16];

		memset(val, index, sizeof val);
		snprintf(key, sizeof key, "f/%d", index);
		assert_ok(&fa.s, apply_put(&fa.s, (uint64_t)index, STORE_FILES, key, strlen(key),
					   val, sizeof val));
	}
	writer_join(&w);
	ck_assert_uint_gt(fa.s.grows, 0);
	ck_assert_uint_eq(store_applied_index(&fa.s), 64);

	assert_ok(&fb.s, store_restore(&fb.s, w.out.data, w.out.len));
	ck_assert_uint_eq(store_applied_index(&fb.s), 4);
	ck_assert_int_eq(read_digest(&fa.s, 4, &at4), 0);
	ck_assert(digest_equal(store_digest(&fb.s), at4));
	buf_release(&w.out);

	/* The next one may begin, and holds index 64. */
	writer_start(&w, &fa.s);
	writer_join(&w);
	assert_ok(&fb.s, store_restore(&fb.s, w.out.data, w.out.len));
	ck_assert_uint_eq(store_applied_index(&fb.s), 64);
	ck_assert(digest_equal(store_digest(&fb.s), store_digest(&fa.s)));
	buf_release(&w.out);
}
END_TEST

START_TEST(test_snapshot_restore_grows_small_map)
{
	struct store_options capped = {.map_size = 256 << 10, .map_size_max = 256 << 10};
	struct store_options small = {.map_size = 256 << 10, .map_size_max = (size_t)1 << 30};
	struct buf snap;
	struct image im;
	uint64_t rng = 11;

	big_store(&fa.s);
	buf_init(&snap);
	take_snapshot(&fa.s, &snap);
	ck_assert_uint_gt(snap.len, 1 << 20);

	/* A map that cannot hold it: ERR_FULL, and the store as it was. */
	fixture_close(&fb);
	fixture_open(&fb, &capped);
	assert_ok(&fb.s, apply_put(&fb.s, 1, STORE_NODES, K("mine"), K("b")));
	image_take(&fb.s, &im);
	assert_rejected(&fb.s, &im, snap.data, snap.len, ERR_FULL, true, "capped map");

	/* A map that can grow: it grows, and the restore is complete. */
	fixture_close(&fb);
	fixture_open(&fb, &small);
	assert_ok(&fb.s, store_restore(&fb.s, snap.data, snap.len));
	ck_assert_uint_gt(fb.s.grows, 0);
	assert_same(&fa.s, &fb.s, &rng, 0);
	buf_release(&im.snap);
	buf_release(&snap);
}
END_TEST

/*
 * The entries of the state-machine test, one command a line: "put KEY VALUE"
 * and "del KEY" on procs, "rewind N", "fail" (an environmental error), and
 * anything else, or a rewind out of range, is a rejection recorded in results
 * under the index (a business rejection is data, never an apply failure).
 */
struct entries {
	unsigned calls;
	uint64_t last_index;
};

static int reject(struct store_txn *t, const char *line)
{
	uint8_t key[8];

	be64_put(key, t->index);
	return store_put(t, STORE_RESULTS, key, sizeof key, line, strlen(line));
}

static int apply_entry(struct store_txn *t, const void *entry, size_t len, void *arg)
{
	struct entries *e = arg;
	char text[256], k[64], v[64], *line, *save;
	unsigned long long n;
	int rc = 0;

	e->calls++;
	e->last_index = t->index;
	if (len >= sizeof text)
		return reject(t, "too long");
	memcpy(text, entry, len);
	text[len] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "put %63s %63s", k, v) == 2) {
			rc = store_put(t, STORE_PROCS, k, strlen(k), v, strlen(v));
		} else if (sscanf(line, "del %63s", k) == 1) {
			rc = store_del(t, STORE_PROCS, k, strlen(k));
		} else if (sscanf(line, "rewind %llu", &n) == 1) {
			rc = store_rewind(t, n);
			if (rc == ERR_RANGE)
				rc = reject(t, line);
		} else if (strcmp(line, "fail") == 0) {
			return ERR_IO;
		} else {
			rc = reject(t, line);
		}
	}
	return rc;
}

static int sm_put(struct sm *sm, uint64_t index, const char *entry)
{
	return sm->apply(sm, index, entry, strlen(entry));
}

START_TEST(test_snapshot_sm_interface)
{
	struct sm sa, sb;
	struct entries ea = {0}, eb = {0};
	struct buf snap, out;
	uint8_t key[8];

	buf_init(&snap);
	buf_init(&out);
	store_sm_init(&fa.s, &sa, apply_entry, &ea);
	ck_assert_uint_eq(sa.applied_index(&sa), 0);
	ck_assert_int_eq(sm_put(&sa, 1, "put a 1"), 0);
	ck_assert_uint_eq(sa.applied_index(&sa), 1);
	ck_assert_uint_eq(ea.calls, 1);
	ck_assert_uint_eq(ea.last_index, 1);
	ck_assert_int_eq(sm_put(&sa, 2, "put b 2\ndel a"), 0);
	ck_assert_int_eq(read_scan(&fa.s, STORE_PROCS, NULL, 0, NULL, 0, STORE_AT_LATEST, &out), 0);
	ck_assert_str_eq(buf_str(&out), "b=2");

	/* At or below the applied index: skipped, the callback not called. */
	ck_assert_int_eq(sm_put(&sa, 2, "put c 3"), 0);
	ck_assert_int_eq(sm_put(&sa, 1, "put c 3"), 0);
	ck_assert_int_eq(sm_put(&sa, 0, "put c 3"), 0);
	ck_assert_uint_eq(ea.calls, 2);
	ck_assert_uint_eq(sa.applied_index(&sa), 2);
	ck_assert_int_eq(read_get(&fa.s, STORE_PROCS, K("c"), STORE_AT_LATEST, &out), ERR_NOTFOUND);

	/* Rejections are applied entries. */
	ck_assert_int_eq(sm_put(&sa, 3, "bogus"), 0);
	ck_assert_int_eq(sm_put(&sa, 4, "rewind 9"), 0);
	ck_assert_uint_eq(sa.applied_index(&sa), 4);
	be64_put(key, 3);
	ck_assert_int_eq(read_get(&fa.s, STORE_RESULTS, key, sizeof key, STORE_AT_LATEST, &out), 0);
	ck_assert_str_eq(buf_str(&out), "bogus");
	be64_put(key, 4);
	ck_assert_int_eq(read_get(&fa.s, STORE_RESULTS, key, sizeof key, STORE_AT_LATEST, &out), 0);
	ck_assert_str_eq(buf_str(&out), "rewind\\x209");

	/* An environmental failure: not applied, with a message. */
	ck_assert_int_eq(sm_put(&sa, 5, "put z 5\nfail"), ERR_IO);
	ck_assert_uint_eq(sa.applied_index(&sa), 4);
	ck_assert_ptr_nonnull(sa.errmsg(&sa));
	ck_assert_msg(strstr(sa.errmsg(&sa), "apply index 5") != NULL, "%s", sa.errmsg(&sa));
	ck_assert_int_eq(read_get(&fa.s, STORE_PROCS, K("z"), STORE_AT_LATEST, &out), ERR_NOTFOUND);
	ck_assert_int_eq(sm_put(&sa, 5, "rewind 1"), 0);
	ck_assert_int_eq(read_scan(&fa.s, STORE_PROCS, NULL, 0, NULL, 0, STORE_AT_LATEST, &out), 0);
	ck_assert_str_eq(buf_str(&out), "a=1");

	/* The snapshot is appended to what the buffer holds. */
	ck_assert_int_eq(buf_append(&snap, "xyz", 3), 0);
	ck_assert_int_eq(sa.snapshot(&sa, &snap), 0);
	ck_assert_uint_gt(snap.len, 3);
	ck_assert_mem_eq(snap.data, "xyzLOGOSNP1", 11);

	store_sm_init(&fb.s, &sb, apply_entry, &eb);
	ck_assert_int_eq(sm_put(&sb, 1, "put q 1"), 0);
	ck_assert_int_eq(sb.restore(&sb, snap.data + 3, snap.len - 3), 0);
	ck_assert_uint_eq(sb.applied_index(&sb), 5);
	ck_assert(digest_equal(store_digest(&fb.s), store_digest(&fa.s)));
	ck_assert_int_eq(read_scan(&fb.s, STORE_PROCS, NULL, 0, NULL, 0, STORE_AT_LATEST, &out), 0);
	ck_assert_str_eq(buf_str(&out), "a=1");
	ck_assert_int_eq(read_scan(&fb.s, STORE_PROCS, NULL, 0, NULL, 0, 2, &out), 0);
	ck_assert_str_eq(buf_str(&out), "b=2");

	/* A damaged snapshot leaves the state as it was. */
	ck_assert_int_eq(sb.restore(&sb, snap.data + 3, snap.len - 4), ERR_CORRUPT);
	ck_assert_msg(strlen(sb.errmsg(&sb)) > 0, "no message");
	ck_assert_uint_eq(sb.applied_index(&sb), 5);

	/* Both go on identically; the restored one skips what it has. */
	ck_assert_int_eq(sm_put(&sb, 5, "put late 5"), 0);
	ck_assert_uint_eq(eb.calls, 1);
	ck_assert_int_eq(sm_put(&sa, 6, "put w 6\nrewind 3"), 0);
	ck_assert_int_eq(sm_put(&sb, 6, "put w 6\nrewind 3"), 0);
	ck_assert_uint_eq(eb.calls, 2);
	ck_assert(digest_equal(store_digest(&fb.s), store_digest(&fa.s)));
	ck_assert_int_eq(read_scan(&fb.s, STORE_PROCS, NULL, 0, NULL, 0, STORE_AT_LATEST, &out), 0);
	ck_assert_str_eq(buf_str(&out), "b=2");
	buf_release(&out);
	buf_release(&snap);
}
END_TEST

Suite *snapshot_suite(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("snapshot");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_snapshot_round_trip_then_same_future);
	tcase_add_test(tc, test_snapshot_restore_replaces_non_empty_store);
	tcase_add_test(tc, test_snapshot_restore_of_a_state_passed);
	tcase_add_test(tc, test_snapshot_in_parts_holds_the_state_of_its_begin);
	tcase_add_test(tc, test_snapshot_flipped_bytes_are_rejected);
	tcase_add_test(tc, test_snapshot_truncated_is_rejected);
	tcase_add_test(tc, test_snapshot_large_damaged_samples_are_rejected);
	tcase_add_test(tc, test_snapshot_wrong_magic_or_format_is_rejected);
	tcase_add_test(tc, test_snapshot_tampered_behind_valid_checksum_is_rejected);
	tcase_add_test(tc, test_snapshot_restore_grows_small_map);
	tcase_add_test(tc, test_snapshot_sm_interface);
	suite_add_tcase(s, tc);
	return s;
}
