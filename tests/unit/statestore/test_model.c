/*
 * The model-based randomized test of statestore/store.h. A naive in-memory
 * model keeps a full copy of the whole state after every applied index; random
 * batches of puts, deletes, rewinds (valid and invalid), compactions and reads
 * inside the transaction are applied to both, with skipped index numbers,
 * failing callbacks and a reopen midway. After every index the store's latest
 * state must equal the model's; often, and at the end for every readable
 * index, reads and scans as of past indexes must equal the model's copy at
 * that index, and store_digest_at() must equal a digest computed here from the
 * model's rows alone (which is what proves the incremental digest). Every
 * failure names the seed; LOGOS_TEST_SEED=<seed> replays it as the first run.
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/hash.h"
#include "statestore/store.h"
#include "tests/unit/statestore/helpers.h"
#include "tests/unit/statestore/suites.h"

#define N_SEEDS          4
#define INDEXES_PER_SEED 800 /* Applied indexes per seed. */
#define MAX_OPS          5
#define N_TABLES         3

/* Two adjacent versioned tables (their history keys differ in the first
 * byte only) and an unversioned one. */
static const int tables[N_TABLES] = {STORE_NODES, STORE_PROCS, STORE_RESULTS};

struct slot {
	bool present;
	uint8_t len;
	uint8_t val[TEST_VAL_MAX];
};

/* The whole state after one applied index. */
struct state {
	uint64_t index;
	struct hash128 digest;
	struct slot rows[N_TABLES][TEST_N_KEYS]; /* Keys in store order. */
};

struct model {
	uint64_t seed;
	uint64_t rng;
	struct test_key keys[TEST_N_KEYS];
	struct state *states; /* After each applied index, ascending; [0]: index 0. */
	size_t n, cap;
	uint64_t oldest;
	struct state cur; /* The index being built. */
};

/* A small initial map, so that batches of every kind (rewinds and
 * compactions included) hit a full map, and are run again after it grows. */
static const struct store_options model_options = {
	.map_size = 256 << 10,
	.map_size_max = (size_t)1 << 30,
};

static struct fixture fx;

static void setup(void)
{
	fixture_init(&fx);
	fixture_open(&fx, &model_options);
}

static void teardown(void)
{
	fixture_release(&fx);
}

#define CHECK(m, cond, fmt, ...)                                                         \
	ck_assert_msg((cond), "seed %" PRIu64 " (applied %" PRIu64 "): " fmt, (m)->seed, \
		      last_state(m)->index, __VA_ARGS__)

static const struct state *last_state(const struct model *m)
{
	return &m->states[m->n - 1];
}

/* The state as of `at`: that of the last applied index at or below it. */
static const struct state *state_at(const struct model *m, uint64_t at)
{
	size_t lo = 0, hi = m->n; /* states[lo].index <= at < states[hi].index */

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->states[mid].index <= at)
			lo = mid;
		else
			hi = mid;
	}
	return &m->states[lo];
}

/* Where the rows of table `ti` as of `at` are: unversioned tables have no
 * history, so every read sees their latest rows. */
static const struct slot *rows_at(const struct model *m, size_t ti, uint64_t at)
{
	if (!store_table_is_versioned(tables[ti]) || at == STORE_AT_LATEST)
		return last_state(m)->rows[ti];
	return state_at(m, at)->rows[ti];
}

/* The digest from the rows alone (DESIGN §4.3), independently of the store. */
static struct hash128 model_digest(const struct model *m, const struct state *st)
{
	struct hash128 d = {0, 0};
	size_t ti, k;

	for (ti = 0; ti < N_TABLES; ti++) {
		if (!store_table_is_versioned(tables[ti]))
			continue;
		for (k = 0; k < TEST_N_KEYS; k++) {
			const struct slot *sl = &st->rows[ti][k];

			if (sl->present)
				d = digest_add(d, test_row_hash(tables[ti], m->keys[k].b,
								m->keys[k].len, sl->val, sl->len));
		}
	}
	return d;
}

static void push_state(struct model *m, const struct state *st)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 256;
		m->states = realloc(m->states, m->cap * sizeof *m->states);
		ck_assert_ptr_nonnull(m->states);
	}
	m->states[m->n++] = *st;
}

static void dump_key(const struct test_key *k, char *out, size_t size)
{
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < k->len && n + 5 < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%02x", k->b[i]);
	if (i < k->len)
		snprintf(out + n, size - n, "...(%zu bytes)", k->len);
}

/*
 * Draws one operation of index `index`, applies it to m->cur, and fills `op`
 * with what the store must return and its digest afterwards. `oldest` is the
 * transaction's oldest readable index (compactions move it).
 */
static void draw_op(struct model *m, uint64_t index, uint64_t *oldest, struct op *op,
		    uint8_t val[TEST_VAL_MAX])
{
	uint64_t r = rng_below(&m->rng, 100);
	size_t ti = (size_t)rng_below(&m->rng, N_TABLES);
	size_t k = (size_t)rng_below(&m->rng, TEST_N_KEYS);
	struct slot *sl = &m->cur.rows[ti][k];
	size_t len;

	memset(op, 0, sizeof *op);
	op->table = tables[ti];
	op->key = m->keys[k].b;
	op->klen = m->keys[k].len;
	if (r < 45) {
		op->kind = OP_PUT;
		if (sl->present && rng_below(&m->rng, 4) == 0) {
			len = sl->len; /* The same value again: no change. */
			memcpy(val, sl->val, len);
		} else {
			len = test_random_value(&m->rng, val);
		}
		op->val = val;
		op->vlen = len;
		sl->present = true;
		sl->len = (uint8_t)len;
		memcpy(sl->val, val, len);
	} else if (r < 70) {
		op->kind = OP_DEL;
		sl->present = false;
	} else if (r < 80) {
		const struct state *then;

		op->kind = OP_REWIND;
		op->target = *oldest + rng_below(&m->rng, index - *oldest);
		then = state_at(m, op->target);
		for (ti = 0; ti < N_TABLES; ti++)
			if (store_table_is_versioned(tables[ti]))
				memcpy(m->cur.rows[ti], then->rows[ti], sizeof then->rows[ti]);
	} else if (r < 85) {
		op->kind = OP_REWIND;
		op->expect = ERR_RANGE;
		switch (rng_below(&m->rng, 3)) {
		case 0:
			op->target = index + rng_below(&m->rng, 3);
			break;
		case 1:
			op->target = UINT64_MAX;
			break;
		default:
			op->target = *oldest > 0 ? rng_below(&m->rng, *oldest) : index;
			break;
		}
	} else if (r < 87) {
		uint64_t back = rng_below(&m->rng, 150);

		op->kind = OP_COMPACT;
		op->target = index - 1 >= back ? index - 1 - back : 0;
		if (op->target > *oldest)
			*oldest = op->target;
	} else if (r < 89) {
		op->kind = OP_COMPACT;
		op->expect = ERR_RANGE;
		op->target =
			rng_below(&m->rng, 4) == 0 ? UINT64_MAX : index + rng_below(&m->rng, 3);
	} else {
		const struct slot *then;

		/* A read inside the transaction: its own writes, or the past. */
		op->kind = OP_GET;
		if (rng_below(&m->rng, 3) == 0)
			op->target = STORE_AT_LATEST;
		else
			op->target = *oldest + rng_below(&m->rng, index - *oldest + 1);
		if (op->target == STORE_AT_LATEST || op->target == index ||
		    !store_table_is_versioned(op->table))
			then = sl;
		else
			then = &state_at(m, op->target)->rows[ti][k];
		op->expect = then->present ? 0 : ERR_NOTFOUND;
		memcpy(val, then->val, then->len);
		op->val = val;
		op->vlen = then->len;
	}
	op->check_digest = true;
	op->digest = model_digest(m, &m->cur);
}

static bool has_prefix(const struct test_key *k, const uint8_t *p, size_t plen)
{
	return k->len >= plen && (plen == 0 || memcmp(k->b, p, plen) == 0);
}

/* Scans table `ti` as of `at` (with a prefix and an optional seek) and
 * compares every row, in order, with the model. */
static void check_scan(struct model *m, struct store_txn *t, size_t ti, uint64_t at,
		       const uint8_t *prefix, size_t plen, const uint8_t *seek, size_t slen)
{
	const struct slot *rows = rows_at(m, ti, at);
	struct store_iter it;
	const void *key, *val;
	size_t klen, vlen, k = 0;
	char name[80];
	int rc;

	rc = store_iter_init(&it, t, tables[ti], prefix, plen, at);
	CHECK(m, rc == 0, "iter_init table %d at %" PRIu64 ": %s (%s)", tables[ti], at,
	      err_name(rc), t->s->errmsg);
	if (seek != NULL) {
		rc = store_iter_seek(&it, seek, slen);
		CHECK(m, rc == 0, "iter_seek: %s", err_name(rc));
	}
	for (;;) {
		while (k < TEST_N_KEYS &&
		       !(rows[k].present && has_prefix(&m->keys[k], prefix, plen) &&
			 (seek == NULL ||
			  test_keycmp(m->keys[k].b, m->keys[k].len, seek, slen) >= 0)))
			k++;
		rc = store_iter_next(&it, &key, &klen, &val, &vlen);
		if (k == TEST_N_KEYS) {
			CHECK(m, rc == ERR_NOTFOUND,
			      "scan of table %d at %" PRIu64
			      " (prefix %zu bytes): extra row of %zu "
			      "bytes (%s)",
			      tables[ti], at, plen, rc == 0 ? klen : 0, err_name(rc));
			break;
		}
		dump_key(&m->keys[k], name, sizeof name);
		CHECK(m, rc == 0, "scan of table %d at %" PRIu64 ": missing row %s (%s)",
		      tables[ti], at, name, err_name(rc));
		CHECK(m, klen == m->keys[k].len && memcmp(key, m->keys[k].b, klen) == 0,
		      "scan of table %d at %" PRIu64 ": got a key of %zu bytes, expected %s",
		      tables[ti], at, klen, name);
		CHECK(m, vlen == rows[k].len && (vlen == 0 || memcmp(val, rows[k].val, vlen) == 0),
		      "scan of table %d at %" PRIu64 ": row %s has %zu bytes, expected %u",
		      tables[ti], at, name, vlen, rows[k].len);
		k++;
	}
	store_iter_close(&it);
}

/* Compares every row and the digest as of `at` with the model, plus one scan
 * with a random prefix and seek per table. */
static void check_at(struct model *m, struct store_txn *t, uint64_t at)
{
	const struct state *st = state_at(m, at);
	struct hash128 d;
	const void *val;
	size_t ti, k, vlen, plen;
	char name[80];
	int rc;

	for (ti = 0; ti < N_TABLES; ti++) {
		const struct slot *rows = rows_at(m, ti, at);
		const struct test_key *p, *sk;

		for (k = 0; k < TEST_N_KEYS; k++) {
			rc = store_get(t, tables[ti], m->keys[k].b, m->keys[k].len, at, &val,
				       &vlen);
			dump_key(&m->keys[k], name, sizeof name);
			CHECK(m, rc == (rows[k].present ? 0 : ERR_NOTFOUND),
			      "get %s in table %d at %" PRIu64 ": %s, expected %s", name,
			      tables[ti], at, err_name(rc),
			      rows[k].present ? "a value" : "notfound");
			if (rc == 0)
				CHECK(m,
				      vlen == rows[k].len &&
					      (vlen == 0 || memcmp(val, rows[k].val, vlen) == 0),
				      "get %s in table %d at %" PRIu64 ": %zu bytes, expected %u",
				      name, tables[ti], at, vlen, rows[k].len);
		}
		check_scan(m, t, ti, at, NULL, 0, NULL, 0);
		p = &m->keys[rng_below(&m->rng, TEST_N_KEYS)];
		plen = (size_t)rng_below(&m->rng, p->len + 1);
		sk = &m->keys[rng_below(&m->rng, TEST_N_KEYS)];
		check_scan(m, t, ti, at, p->b, plen, rng_below(&m->rng, 2) ? sk->b : NULL,
			   (size_t)rng_below(&m->rng, sk->len + 1));
	}
	rc = store_digest_at(t, at, &d);
	CHECK(m, rc == 0, "digest_at %" PRIu64 ": %s (%s)", at, err_name(rc), t->s->errmsg);
	CHECK(m, digest_equal(d, at == STORE_AT_LATEST ? last_state(m)->digest : st->digest),
	      "digest at %" PRIu64 " differs from the model's", at);
}

/* Reads outside [oldest, applied] fail with ERR_RANGE. */
static void check_range(struct model *m, struct store_txn *t)
{
	uint64_t bad[2];
	struct store_iter it;
	struct hash128 d;
	const void *val;
	size_t vlen, i, n = 0;
	int rc;

	bad[n++] = last_state(m)->index + 1 + rng_below(&m->rng, 3);
	if (m->oldest > 0)
		bad[n++] = rng_below(&m->rng, m->oldest);
	for (i = 0; i < n; i++) {
		rc = store_get(t, tables[i % N_TABLES], m->keys[0].b, m->keys[0].len, bad[i], &val,
			       &vlen);
		CHECK(m, rc == ERR_RANGE, "get at %" PRIu64 ": %s", bad[i], err_name(rc));
		rc = store_iter_init(&it, t, STORE_PROCS, NULL, 0, bad[i]);
		CHECK(m, rc == ERR_RANGE, "iter_init at %" PRIu64 ": %s", bad[i], err_name(rc));
		rc = store_digest_at(t, bad[i], &d);
		CHECK(m, rc == ERR_RANGE, "digest_at %" PRIu64 ": %s", bad[i], err_name(rc));
	}
}

/* The metadata and the latest rows equal the model's. */
static void check_latest(struct model *m, struct store *s)
{
	const struct state *last = last_state(m);
	struct store_txn t;
	char got[33], want[33];
	size_t ti;
	int rc;

	CHECK(m, store_applied_index(s) == last->index, "applied index %" PRIu64,
	      store_applied_index(s));
	CHECK(m, store_oldest_index(s) == m->oldest, "oldest index %" PRIu64 ", expected %" PRIu64,
	      store_oldest_index(s), m->oldest);
	digest_hex(store_digest(s), got);
	digest_hex(last->digest, want);
	CHECK(m, strcmp(got, want) == 0, "digest %s, the model's %s", got, want);
	rc = store_read(s, &t);
	CHECK(m, rc == 0, "store_read: %s", s->errmsg);
	for (ti = 0; ti < N_TABLES; ti++)
		check_scan(m, &t, ti, STORE_AT_LATEST, NULL, 0, NULL, 0);
	store_read_end(&t);
}

/* Several random readable indexes (skipped ones included) and the range. */
static void check_some(struct model *m, struct store *s)
{
	uint64_t applied = last_state(m)->index;
	struct store_txn t;
	int i, rc;

	rc = store_read(s, &t);
	CHECK(m, rc == 0, "store_read: %s", s->errmsg);
	for (i = 0; i < 3; i++)
		check_at(m, &t, m->oldest + rng_below(&m->rng, applied - m->oldest + 1));
	check_at(m, &t, m->oldest);
	check_range(m, &t);
	store_read_end(&t);
}

static int must_not_run(struct store_txn *t, void *arg)
{
	*(int *)arg += 1;
	return 0;
}

/* One index: a batch of 1..MAX_OPS operations, sometimes failing midway. */
static void step(struct model *m, struct store *s)
{
	const struct state *last = last_state(m);
	uint64_t index = last->index + 1, oldest = m->oldest;
	struct op ops[MAX_OPS + 1];
	uint8_t vals[MAX_OPS][TEST_VAL_MAX];
	size_t n = 1 + (size_t)rng_below(&m->rng, MAX_OPS), i;
	bool fail = rng_below(&m->rng, 40) == 0;
	int rc;

	if (rng_below(&m->rng, 8) == 0)
		index += 1 + rng_below(&m->rng, 2); /* Indexes need not be consecutive. */
	m->cur = *last;
	for (i = 0; i < n; i++)
		draw_op(m, index, &oldest, &ops[i], vals[i]);
	if (fail) {
		/* The callback fails after some of the operations. */
		n = (size_t)rng_below(&m->rng, n + 1);
		memset(&ops[n], 0, sizeof ops[n]);
		ops[n].kind = OP_FAIL;
		ops[n].expect = ERR_IO;
		n++;
	}
	rc = apply_ops(s, index, ops, n);
	if (fail) {
		CHECK(m, rc == ERR_IO, "failing index %" PRIu64 " returned %s (%s)", index,
		      err_name(rc), s->errmsg);
		return; /* The model keeps the previous state; check_latest proves the store did. */
	}
	CHECK(m, rc == 0, "apply %" PRIu64 ": %s", index, s->errmsg);
	m->cur.index = index;
	m->cur.digest = model_digest(m, &m->cur);
	push_state(m, &m->cur);
	m->oldest = oldest;
}

START_TEST(test_model_store_matches_model)
{
	struct model *m;
	struct store_txn t;
	struct state empty;
	uint64_t at, applied;
	int rc, calls = 0;
	unsigned grows = 0;
	bool reopened = false;

	m = calloc(1, sizeof *m);
	ck_assert_ptr_nonnull(m);
	m->seed = test_seed() + (uint64_t)_i;
	m->rng = m->seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
	if (m->rng == 0)
		m->rng = 1;
	test_keys_init(m->keys);
	memset(&empty, 0, sizeof empty);
	push_state(m, &empty);

	while (m->n - 1 < INDEXES_PER_SEED) {
		step(m, &fx.s);
		check_latest(m, &fx.s);
		applied = last_state(m)->index;
		if (rng_below(&m->rng, 20) == 0)
			check_some(m, &fx.s);
		if (applied > 0 && rng_below(&m->rng, 50) == 0) {
			/* Indexes at or below the applied one are skipped. */
			rc = store_apply(&fx.s, rng_below(&m->rng, applied + 1), must_not_run,
					 &calls);
			CHECK(m, rc == 0 && calls == 0, "re-applied index: %s, %d calls",
			      err_name(rc), calls);
		}
		if (!reopened && m->n - 1 == INDEXES_PER_SEED / 2) {
			grows += fx.s.grows;
			fixture_close(&fx);
			fixture_open(&fx, &model_options);
			check_latest(m, &fx.s);
			check_some(m, &fx.s);
			reopened = true;
		}
	}

	/* Every readable index, skipped ones included. */
	applied = last_state(m)->index;
	rc = store_read(&fx.s, &t);
	CHECK(m, rc == 0, "store_read: %s", fx.s.errmsg);
	for (at = m->oldest; at <= applied; at++)
		check_at(m, &t, at);
	check_at(m, &t, STORE_AT_LATEST);
	check_range(m, &t);
	store_read_end(&t);
	grows += fx.s.grows;
	CHECK(m, grows > 0, "the map never grew (%u)", grows);
	free(m->states);
	free(m);
}
END_TEST

Suite *model_suite(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("randomized");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_model_store_matches_model, 0, N_SEEDS);
	suite_add_tcase(s, tc);
	return s;
}
