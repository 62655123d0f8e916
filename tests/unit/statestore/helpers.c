/*
 * Helpers shared by the statestore unit tests (tests/unit/statestore/helpers.h):
 * temporary directories, the store fixture, applying an index as checked
 * operations, reads rendered as text, the seeded generator and the key
 * alphabet of the randomized tests.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/buf.h"
#include "common/error.h"
#include "statestore/store.h"
#include "tests/unit/statestore/helpers.h"

#define DEFAULT_SEED 0x10605eedULL

const struct store_options test_options = {
	.map_size = (size_t)1 << 20,
	.map_size_max = (size_t)4 << 30,
};

uint64_t test_seed(void)
{
	const char *env = getenv("LOGOS_TEST_SEED");
	unsigned long long v;
	char *end;

	if (env == NULL || *env == '\0')
		return DEFAULT_SEED;
	errno = 0;
	v = strtoull(env, &end, 0);
	if (errno != 0 || *end != '\0')
		return DEFAULT_SEED;
	return (uint64_t)v;
}

uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return rng_next(s) % n;
}

int tmpdir_make(char *out, size_t size)
{
	const char *base = getenv("TMPDIR");
	int n;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	n = snprintf(out, size, "%s/logos-statestore.XXXXXX", base);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkdtemp(out) == NULL ? -1 : 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

void tmpdir_remove(const char *path)
{
	nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof *f);
	ck_assert_msg(tmpdir_make(f->dir, sizeof f->dir) == 0, "mkdtemp: %s", strerror(errno));
}

void fixture_open(struct fixture *f, const struct store_options *opts)
{
	int rc;

	ck_assert(!f->open);
	rc = store_open(&f->s, f->dir, opts != NULL ? opts : &test_options);
	ck_assert_msg(rc == 0, "store_open: %s (%s)", err_name(rc), f->s.errmsg);
	f->open = true;
}

void fixture_close(struct fixture *f)
{
	if (f->open)
		store_close(&f->s);
	f->open = false;
}

void fixture_release(struct fixture *f)
{
	fixture_close(f);
	if (f->dir[0] != '\0')
		tmpdir_remove(f->dir);
	f->dir[0] = '\0';
}

struct batch {
	const struct op *ops;
	size_t n;
};

static const char *op_name(enum op_kind kind)
{
	switch (kind) {
	case OP_PUT:
		return "put";
	case OP_DEL:
		return "del";
	case OP_REWIND:
		return "rewind";
	case OP_COMPACT:
		return "compact";
	case OP_GET:
		return "get";
	case OP_FAIL:
		return "fail";
	}
	return "?";
}

static int run_ops(struct store_txn *t, void *arg)
{
	const struct batch *b = arg;
	char why[sizeof t->s->errmsg];
	const void *v;
	size_t i, vlen;
	int rc;

	for (i = 0; i < b->n; i++) {
		const struct op *op = &b->ops[i];

		rc = 0;
		switch (op->kind) {
		case OP_PUT:
			rc = store_put(t, op->table, op->key, op->klen, op->val, op->vlen);
			break;
		case OP_DEL:
			rc = store_del(t, op->table, op->key, op->klen);
			break;
		case OP_REWIND:
			rc = store_rewind(t, op->target);
			break;
		case OP_COMPACT:
			rc = store_compact(t, op->target);
			break;
		case OP_GET:
			rc = store_get(t, op->table, op->key, op->klen, op->target, &v, &vlen);
			if (rc == 0 && op->expect == 0 &&
			    (vlen != op->vlen || (vlen > 0 && memcmp(v, op->val, vlen) != 0)))
				return err_set(t->s->errmsg, sizeof t->s->errmsg, ERR_INTERNAL,
					       "op %zu (get at %" PRIu64 "): value of %zu bytes "
					       "differs from the expected %zu bytes",
					       i, op->target, vlen, op->vlen);
			break;
		case OP_FAIL:
			return op->expect;
		}
		if (rc != op->expect) {
			/* Copied: the message may be an argument of its own rewrite. */
			snprintf(why, sizeof why, "%s", t->s->errmsg);
			return err_set(t->s->errmsg, sizeof t->s->errmsg, ERR_INTERNAL,
				       "op %zu (%s): returned %s, expected %s (last message: %s)",
				       i, op_name(op->kind), err_name(rc), err_name(op->expect),
				       why);
		}
		if (op->check_digest && !digest_equal(t->digest, op->digest)) {
			char got[33], want[33];

			digest_hex(t->digest, got);
			digest_hex(op->digest, want);
			return err_set(t->s->errmsg, sizeof t->s->errmsg, ERR_INTERNAL,
				       "op %zu (%s): digest %s, expected %s", i, op_name(op->kind),
				       got, want);
		}
	}
	return 0;
}

int apply_ops(struct store *s, uint64_t index, const struct op *ops, size_t n)
{
	struct batch b = {ops, n};

	return store_apply(s, index, run_ops, &b);
}

int apply_put(struct store *s, uint64_t index, int table, const void *key, size_t klen,
	      const void *val, size_t vlen)
{
	struct op op = {
		.kind = OP_PUT, .table = table, .key = key, .klen = klen, .val = val, .vlen = vlen};

	return apply_ops(s, index, &op, 1);
}

int apply_del(struct store *s, uint64_t index, int table, const void *key, size_t klen)
{
	struct op op = {.kind = OP_DEL, .table = table, .key = key, .klen = klen};

	return apply_ops(s, index, &op, 1);
}

int apply_rewind(struct store *s, uint64_t index, uint64_t target)
{
	struct op op = {.kind = OP_REWIND, .target = target};

	return apply_ops(s, index, &op, 1);
}

int apply_compact(struct store *s, uint64_t index, uint64_t target)
{
	struct op op = {.kind = OP_COMPACT, .target = target};

	return apply_ops(s, index, &op, 1);
}

static void render(struct buf *out, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i] > ' ' && b[i] < 0x7f && b[i] != '\\' && b[i] != '=') {
			ck_assert_int_eq(buf_put_u8(out, b[i]), 0);
		} else {
			char esc[4] = {'\\', 'x', hex[b[i] >> 4], hex[b[i] & 15]};

			ck_assert_int_eq(buf_append(out, esc, sizeof esc), 0);
		}
	}
}

/* Keeps out->data a C string without counting the terminator. */
static void terminate(struct buf *out)
{
	ck_assert_int_eq(buf_put_u8(out, 0), 0);
	out->len--;
}

const char *buf_str(const struct buf *b)
{
	return b->data != NULL ? (const char *)b->data : "";
}

int read_get(struct store *s, int table, const void *key, size_t klen, uint64_t at, struct buf *out)
{
	struct store_txn t;
	const void *v;
	size_t vlen;
	int rc;

	out->len = 0;
	rc = store_read(s, &t);
	ck_assert_msg(rc == 0, "store_read: %s", s->errmsg);
	rc = store_get(&t, table, key, klen, at, &v, &vlen);
	if (rc == 0)
		render(out, v, vlen);
	store_read_end(&t);
	terminate(out);
	return rc;
}

int read_scan(struct store *s, int table, const void *prefix, size_t plen, const void *seek,
	      size_t slen, uint64_t at, struct buf *out)
{
	struct store_txn t;
	struct store_iter it;
	const void *k, *v;
	size_t klen, vlen;
	int rc;

	out->len = 0;
	rc = store_read(s, &t);
	ck_assert_msg(rc == 0, "store_read: %s", s->errmsg);
	rc = store_iter_init(&it, &t, table, prefix, plen, at);
	if (rc != 0)
		goto out;
	if (seek != NULL)
		rc = store_iter_seek(&it, seek, slen);
	while (rc == 0 && (rc = store_iter_next(&it, &k, &klen, &v, &vlen)) == 0) {
		if (out->len > 0)
			ck_assert_int_eq(buf_put_u8(out, ' '), 0);
		render(out, k, klen);
		ck_assert_int_eq(buf_put_u8(out, '='), 0);
		render(out, v, vlen);
	}
	if (rc == ERR_NOTFOUND)
		rc = 0;
	store_iter_close(&it);
out:
	store_read_end(&t);
	terminate(out);
	return rc;
}

int read_digest(struct store *s, uint64_t at, struct hash128 *d)
{
	struct store_txn t;
	int rc;

	rc = store_read(s, &t);
	ck_assert_msg(rc == 0, "store_read: %s", s->errmsg);
	rc = store_digest_at(&t, at, d);
	store_read_end(&t);
	return rc;
}

struct hash128 test_row_hash(int table, const void *key, size_t klen, const void *val, size_t vlen)
{
	uint8_t row[1 + 4 + STORE_KEY_MAX + 4096];

	/* One contiguous buffer and the one-shot hash: independent of the
	 * store's streaming use of the hasher. */
	ck_assert_uint_le(klen, STORE_KEY_MAX);
	ck_assert_uint_le(vlen, 4096);
	row[0] = (uint8_t)table;
	row[1] = (uint8_t)(klen >> 24);
	row[2] = (uint8_t)(klen >> 16);
	row[3] = (uint8_t)(klen >> 8);
	row[4] = (uint8_t)klen;
	memcpy(row + 5, key, klen);
	if (vlen > 0)
		memcpy(row + 5 + klen, val, vlen);
	return hash128(row, 5 + klen + vlen, 0);
}

int test_keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int key_order(const void *a, const void *b)
{
	const struct test_key *x = a, *y = b;

	return test_keycmp(x->b, x->len, y->b, y->len);
}

void test_keys_init(struct test_key keys[TEST_N_KEYS])
{
	/* Short keys: zero bytes, 0xff, and chains of prefixes. */
	static const struct {
		const char *b;
		size_t len;
	} fixed[] = {
		{K("a")},       {K("a\0")},    {K("a\0\0")},  {K("a\0a")},     {K("a\0\xff")},
		{K("a\x01")},   {K("a\xff")},  {K("ab")},     {K("ab\0")},     {K("abc")},
		{K("b")},       {K("ba")},     {K("\0")},     {K("\0\0")},     {K("\0a")},
		{K("\x01")},    {K("\xff")},   {K("\xff\0")}, {K("\xff\xff")}, {K("k")},
		{K("k0")},      {K("k00")},    {K("k000")},   {K("p/1")},      {K("p/1/o")},
		{K("p/10")},    {K("p/2")},    {K("z")},      {K("zz")},       {K("zzz")},
		{K("\0\0\0a")}, {K("a\0\0b")},
	};
	size_t i, n = sizeof fixed / sizeof fixed[0];

	memset(keys, 0, sizeof(struct test_key) * TEST_N_KEYS);
	for (i = 0; i < n; i++) {
		memcpy(keys[i].b, fixed[i].b, fixed[i].len);
		keys[i].len = fixed[i].len;
	}
	/* Long keys: the longest, all 'x'; the longest, all zero bytes; one
	 * zero byte short of it; and keys sharing a long prefix. */
	memset(keys[n].b, 'x', STORE_KEY_MAX);
	keys[n++].len = STORE_KEY_MAX;
	keys[n++].len = STORE_KEY_MAX;
	keys[n++].len = STORE_KEY_MAX - 1;
	memset(keys[n].b, 'x', STORE_KEY_MAX - 1);
	keys[n++].len = STORE_KEY_MAX - 1;
	memset(keys[n].b, 'x', 100);
	keys[n++].len = 100;
	memset(keys[n].b, 'x', 101);
	keys[n].b[100] = 0;
	keys[n++].len = 101;
	memset(keys[n].b, 'x', 101);
	keys[n].b[100] = 0xff;
	keys[n++].len = 101;
	for (i = 0; i < STORE_KEY_MAX; i++)
		keys[n].b[i] = (uint8_t)(i * 37 + 11);
	keys[n++].len = STORE_KEY_MAX;
	ck_assert_uint_eq(n, TEST_N_KEYS);
	qsort(keys, TEST_N_KEYS, sizeof keys[0], key_order);
	for (i = 1; i < TEST_N_KEYS; i++)
		ck_assert_msg(key_order(&keys[i - 1], &keys[i]) < 0, "duplicate test key %zu", i);
}

size_t test_random_value(uint64_t *rng, uint8_t out[TEST_VAL_MAX])
{
	static const uint8_t alphabet[] = {0, 1, 'a', 'b', 0xff};
	size_t len, i;

	if (rng_below(rng, 8) == 0)
		return 0;
	len = (size_t)rng_below(rng, TEST_VAL_MAX + 1);
	for (i = 0; i < len; i++)
		out[i] = alphabet[rng_below(rng, sizeof alphabet)];
	return len;
}
