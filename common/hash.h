/*
 * A 128-bit non-cryptographic hash and the order-independent digest built on
 * it (DESIGN §4.3). The digest of a set of rows is the sum, modulo 2^128, of
 * the hash of every row, so adding or removing one row updates it in O(1) and
 * the order rows were written in does not matter. The hash is defined on bytes
 * (words are read little-endian explicitly), so every replica on every
 * platform computes the same digest. It detects accidental divergence; it is
 * not meant to resist an adversary.
 */
#ifndef LOGOS_COMMON_HASH_H
#define LOGOS_COMMON_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hash128 {
	uint64_t hi;
	uint64_t lo;
};

/* Streaming state: feed any number of byte ranges, then finish. */
struct hasher {
	uint64_t h1;
	uint64_t h2;
	uint64_t total;  /* Bytes fed so far. */
	uint8_t tail[8]; /* Bytes not yet forming a whole word. */
	unsigned ntail;
};

void hasher_init(struct hasher *h, uint64_t seed);
void hasher_update(struct hasher *h, const void *p, size_t n);
struct hash128 hasher_final(struct hasher *h);

/* One-shot hash of `n` bytes. */
struct hash128 hash128(const void *p, size_t n, uint64_t seed);

/* Digest arithmetic, modulo 2^128. */
static inline struct hash128 digest_add(struct hash128 a, struct hash128 b)
{
	struct hash128 r;

	r.lo = a.lo + b.lo;
	r.hi = a.hi + b.hi + (r.lo < a.lo);
	return r;
}

static inline struct hash128 digest_sub(struct hash128 a, struct hash128 b)
{
	struct hash128 r;

	r.lo = a.lo - b.lo;
	r.hi = a.hi - b.hi - (a.lo < b.lo);
	return r;
}

static inline bool digest_equal(struct hash128 a, struct hash128 b)
{
	return a.hi == b.hi && a.lo == b.lo;
}

/* Writes 32 lower-case hex digits and a NUL into `out`. */
void digest_hex(struct hash128 d, char out[33]);

/* 16 bytes, big-endian hi then lo: the stored form of a digest. */
void digest_put(uint8_t out[16], struct hash128 d);
struct hash128 digest_get(const uint8_t in[16]);

#endif /* LOGOS_COMMON_HASH_H */
