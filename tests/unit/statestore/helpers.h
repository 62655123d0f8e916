/*
 * Helpers shared by the statestore unit tests: temporary directories, a
 * fixture owning one store, applying one index as a list of operations whose
 * results are checked inside the transaction, reads rendered as text for exact
 * comparisons, a seeded generator and the key alphabet of the randomized
 * tests.
 *
 * Everything holding an LMDB environment is created by the caller inside a
 * test or a checked fixture (Check forks; LMDB must not cross a fork).
 */
#ifndef LOGOS_TESTS_UNIT_STATESTORE_HELPERS_H
#define LOGOS_TESTS_UNIT_STATESTORE_HELPERS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/hash.h"
#include "statestore/store.h"

/* A byte-string literal as (pointer, length), zero bytes included: K("a\0"). */
#define K(lit) (const void *)(lit), (sizeof(lit) - 1)

/* The base seed of the randomized tests: LOGOS_TEST_SEED if set, else fixed. */
uint64_t test_seed(void);

/* xorshift64*: a seeded generator, so a failure replays exactly. The state
 * must not be 0. */
uint64_t rng_next(uint64_t *state);
/* Uniform in [0, n), n > 0. */
uint64_t rng_below(uint64_t *state, uint64_t n);

/* Makes a fresh directory under $TMPDIR (or /tmp) and writes its path into
 * `out`. Returns 0, or -1 with errno set. */
int tmpdir_make(char *out, size_t size);
/* Removes `path` and everything below it (best effort). */
void tmpdir_remove(const char *path);

/* The map sizes used unless a test asks otherwise: small enough to run under
 * valgrind, growing as needed. */
extern const struct store_options test_options;

/* One store in its own temporary directory. */
struct fixture {
	char dir[PATH_MAX];
	struct store s;
	bool open;
};

/* Makes the directory (no store yet). Fails the test on error. */
void fixture_init(struct fixture *f);
/* Opens the store in f->dir (opts NULL: test_options). Fails the test on
 * error. */
void fixture_open(struct fixture *f, const struct store_options *opts);
/* Closes the store, if open. */
void fixture_close(struct fixture *f);
/* Closes the store and removes the directory. */
void fixture_release(struct fixture *f);

/* One operation of a transaction, with the result it must return. */
enum op_kind {
	OP_PUT,
	OP_DEL,
	OP_REWIND,  /* target */
	OP_COMPACT, /* target */
	OP_GET,     /* reads (table, key) as of `target`; on 0 the value must be val */
	OP_FAIL,    /* the callback returns `expect` here */
};

struct op {
	enum op_kind kind;
	int table;
	const void *key;
	size_t klen;
	const void *val;
	size_t vlen;
	uint64_t target;
	int expect;            /* Code the operation must return. */
	bool check_digest;     /* After the operation, t->digest must be... */
	struct hash128 digest; /* ...this. */
};

/*
 * Applies `index` as one transaction doing ops[0..n) in order. An operation
 * returning other than its `expect` (or a value or digest that differs) makes
 * the callback fail with ERR_INTERNAL and a message naming the operation, in
 * s->errmsg. Returns what store_apply() returns.
 */
int apply_ops(struct store *s, uint64_t index, const struct op *ops, size_t n);

/* One-operation shorthands (the operation must return 0). */
int apply_put(struct store *s, uint64_t index, int table, const void *key, size_t klen,
	      const void *val, size_t vlen);
int apply_del(struct store *s, uint64_t index, int table, const void *key, size_t klen);
int apply_rewind(struct store *s, uint64_t index, uint64_t target);
int apply_compact(struct store *s, uint64_t index, uint64_t target);

/*
 * Reads in a new read transaction. `out` is reset and receives text, always
 * NUL-terminated: bytes outside printable ASCII (and '\\', ' ', '=') appear as
 * \xHH. read_get renders the value and returns store_get()'s code; read_scan
 * renders "key=value key=value ..." of a scan with `prefix`, first seeking to
 * `seek` when it is not NULL, and returns the first error.
 */
int read_get(struct store *s, int table, const void *key, size_t klen, uint64_t at,
	     struct buf *out);
int read_scan(struct store *s, int table, const void *prefix, size_t plen, const void *seek,
	      size_t slen, uint64_t at, struct buf *out);
/* store_digest_at() in a new read transaction. */
int read_digest(struct store *s, uint64_t at, struct hash128 *d);
/* The text of `b` (NUL-terminated by the read helpers). */
const char *buf_str(const struct buf *b);

/*
 * The hash of one versioned row as the digest defines it (DESIGN §4.3),
 * computed here independently of statestore: hash128 with seed 0 over
 * [table u8][klen u32 big-endian][key][value]. The digest of a state is the
 * sum (digest_add) of the hashes of its versioned rows.
 */
struct hash128 test_row_hash(int table, const void *key, size_t klen, const void *val, size_t vlen);

/* The key alphabet of the randomized tests, in the store's key order: keys
 * with zero bytes and 0xff, keys that are prefixes of others, the longest key
 * (also all zero bytes, the worst case of the history key escape). */
#define TEST_N_KEYS 40
struct test_key {
	uint8_t b[STORE_KEY_MAX];
	size_t len;
};
void test_keys_init(struct test_key keys[TEST_N_KEYS]);

/* Byte-wise key order with shorter first on a tie (LMDB's default). */
int test_keycmp(const void *a, size_t alen, const void *b, size_t blen);

/* A random value of 0..TEST_VAL_MAX bytes into `out`, sometimes empty, drawn
 * from few bytes (zero included) so that values repeat. Returns its length. */
#define TEST_VAL_MAX 64
size_t test_random_value(uint64_t *rng, uint8_t out[TEST_VAL_MAX]);

#endif /* LOGOS_TESTS_UNIT_STATESTORE_HELPERS_H */
