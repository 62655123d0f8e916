/*
 * Tests of common/hash.h: the 128-bit hash is deterministic, pinned to fixed
 * values, insensitive to how its input is split into updates, and sensitive to
 * every bit and to the length; the digest built on it (DESIGN §4.3) is a sum
 * modulo 2^128, so adding and removing rows are inverse and order does not
 * matter; its hex and stored forms are exact.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <check.h>

#include "common/hash.h"
#include "tests/unit/common/suites.h"

/* xorshift64*: a seeded generator, so a failure replays exactly. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void rng_fill(uint64_t *s, uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(rng_next(s) >> 56);
}

static struct hash128 h128(uint64_t hi, uint64_t lo)
{
	struct hash128 h = {.hi = hi, .lo = lo};

	return h;
}

#define ck_assert_digest_eq(a, b)                                                              \
	do {                                                                                   \
		struct hash128 a_ = (a), b_ = (b);                                             \
		ck_assert_msg(digest_equal(a_, b_), "digest %016llx%016llx != %016llx%016llx", \
			      (unsigned long long)a_.hi, (unsigned long long)a_.lo,            \
			      (unsigned long long)b_.hi, (unsigned long long)b_.lo);           \
	} while (0)

START_TEST(test_hash128_is_deterministic)
{
	uint8_t data[200];
	struct hash128 a, b;
	uint64_t seed = 11;
	size_t n;

	rng_fill(&seed, data, sizeof data);
	for (n = 0; n <= sizeof data; n += 7) {
		a = hash128(data, n, 5);
		b = hash128(data, n, 5);
		ck_assert_digest_eq(a, b);
	}
}
END_TEST

/*
 * Golden values, computed once from this implementation and hard-coded. The
 * digest is stored on disk and compared between replicas (DESIGN §4.3), so a
 * change to the hash function is a change of the on-disk format: if this test
 * fails, the change needs a format version bump, not a new set of constants.
 */
START_TEST(test_hash128_golden_values)
{
	static const struct {
		const char *in;
		uint64_t seed;
		const char *hex;
	} golden[] = {
		{"", 0, "db106b25425606f58dbaa7911e64ccbb"},
		{"logos", 0, "e6a162643e81356074446786dd3e7069"},
		{"abcdefgh", 0, "148fe74ee84630a5ea6501d9bd2646fc"},
		{"abcdefghi", 0, "32a9f77ffabcbc33c1c06ba82bfa8750"},
		{"the quick brown fox jumps over the lazy dog", 0,
		 "a8646c0589f9e70d818d6a9db9899bd5"},
		{"logos", 42, "01e6a1c915f2b7e42f1e4f1313d20ac9"},
	};
	char hex[33];
	size_t i;

	for (i = 0; i < sizeof golden / sizeof golden[0]; i++) {
		digest_hex(hash128(golden[i].in, strlen(golden[i].in), golden[i].seed), hex);
		ck_assert_msg(strcmp(hex, golden[i].hex) == 0,
			      "hash of '%s' seed %llu: %s, want %s", golden[i].in,
			      (unsigned long long)golden[i].seed, hex, golden[i].hex);
	}
	ck_assert_digest_eq(hash128("logos", 5, 0),
			    h128(0xe6a162643e813560ULL, 0x74446786dd3e7069ULL));
}
END_TEST

START_TEST(test_hash128_seed_changes_hash)
{
	struct hash128 a = hash128("row", 3, 0);
	uint64_t s;

	for (s = 1; s < 64; s++)
		ck_assert(!digest_equal(a, hash128("row", 3, s)));
	ck_assert(!digest_equal(a, hash128("row", 3, 1ULL << 63)));
}
END_TEST

START_TEST(test_hasher_random_splits_equal_one_shot)
{
	uint8_t data[300];
	struct hasher h;
	struct hash128 whole;
	uint64_t seed = 12;
	size_t n, off, step;
	int round;

	rng_fill(&seed, data, sizeof data);
	for (n = 0; n <= sizeof data; n++) {
		whole = hash128(data, n, n);
		for (round = 0; round < 8; round++) {
			hasher_init(&h, n);
			off = 0;
			while (off < n) {
				/* Pieces of 0..19 bytes, crossing word boundaries. */
				step = (size_t)(rng_next(&seed) % 20);
				if (step > n - off)
					step = n - off;
				hasher_update(&h, data + off, step);
				off += step;
			}
			ck_assert_digest_eq(hasher_final(&h), whole);
		}
	}
}
END_TEST

START_TEST(test_hasher_byte_at_a_time_equals_one_shot)
{
	uint8_t data[70];
	struct hasher h;
	uint64_t seed = 13;
	size_t n, i;

	rng_fill(&seed, data, sizeof data);
	for (n = 0; n <= sizeof data; n++) {
		hasher_init(&h, 9);
		for (i = 0; i < n; i++)
			hasher_update(&h, data + i, 1);
		ck_assert_digest_eq(hasher_final(&h), hash128(data, n, 9));
	}
}
END_TEST

START_TEST(test_hash128_trailing_zeros_differ)
{
	static const uint8_t zeros[64] = {0};
	struct hash128 h[sizeof zeros + 1];
	size_t a, b;

	/* "", "\0", "\0\0", ... all differ: the length is part of the hash. */
	for (a = 0; a <= sizeof zeros; a++)
		h[a] = hash128(zeros, a, 0);
	for (a = 0; a <= sizeof zeros; a++)
		for (b = a + 1; b <= sizeof zeros; b++)
			ck_assert_msg(!digest_equal(h[a], h[b]), "%zu and %zu zero bytes collide",
				      a, b);
	ck_assert(!digest_equal(hash128("abc", 3, 0), hash128("abc\0", 4, 0)));
	ck_assert(!digest_equal(hash128("abcdefgh", 8, 0), hash128("abcdefgh\0", 9, 0)));
}
END_TEST

START_TEST(test_hash128_bit_flip_changes_both_halves)
{
	uint8_t data[64];
	struct hash128 base, flipped;
	uint64_t seed = 14;
	size_t n, byte;
	int bit;

	for (n = 1; n <= sizeof data; n++) {
		rng_fill(&seed, data, n);
		base = hash128(data, n, 0);
		for (byte = 0; byte < n; byte++) {
			for (bit = 0; bit < 8; bit++) {
				data[byte] ^= (uint8_t)(1u << bit);
				flipped = hash128(data, n, 0);
				data[byte] ^= (uint8_t)(1u << bit);
				ck_assert_msg(
					flipped.hi != base.hi && flipped.lo != base.lo,
					"flipping bit %d of byte %zu of %zu left a half unchanged",
					bit, byte, n);
			}
		}
	}
}
END_TEST

START_TEST(test_digest_add_sub_are_inverse)
{
	struct hash128 a, b;
	uint64_t seed = 15;
	int i;

	for (i = 0; i < 10000; i++) {
		a = h128(rng_next(&seed), rng_next(&seed));
		b = h128(rng_next(&seed), rng_next(&seed));
		ck_assert_digest_eq(digest_sub(digest_add(a, b), b), a);
		ck_assert_digest_eq(digest_add(digest_sub(a, b), b), a);
		ck_assert_digest_eq(digest_add(a, b), digest_add(b, a));
		ck_assert_digest_eq(digest_sub(a, a), h128(0, 0));
	}
}
END_TEST

START_TEST(test_digest_sum_is_order_independent)
{
	struct hash128 rows[100], fwd = {0, 0}, rev = {0, 0}, shuf = {0, 0}, tmp;
	uint8_t key[16];
	uint64_t seed = 16;
	size_t i, j, n = sizeof rows / sizeof rows[0];

	for (i = 0; i < n; i++) {
		rng_fill(&seed, key, sizeof key);
		rows[i] = hash128(key, sizeof key, 0);
	}
	for (i = 0; i < n; i++)
		fwd = digest_add(fwd, rows[i]);
	for (i = n; i-- > 0;)
		rev = digest_add(rev, rows[i]);
	for (i = n - 1; i > 0; i--) { /* Fisher-Yates */
		j = (size_t)(rng_next(&seed) % (i + 1));
		tmp = rows[i];
		rows[i] = rows[j];
		rows[j] = tmp;
	}
	for (i = 0; i < n; i++)
		shuf = digest_add(shuf, rows[i]);
	ck_assert_digest_eq(fwd, rev);
	ck_assert_digest_eq(fwd, shuf);
	/* Removing every row, in yet another order, returns to the empty digest. */
	for (i = 0; i < n; i += 2)
		fwd = digest_sub(fwd, rows[i]);
	for (i = 1; i < n; i += 2)
		fwd = digest_sub(fwd, rows[i]);
	ck_assert_digest_eq(fwd, h128(0, 0));
}
END_TEST

START_TEST(test_digest_add_carries_lo_to_hi)
{
	ck_assert_digest_eq(digest_add(h128(0, UINT64_MAX), h128(0, 1)), h128(1, 0));
	ck_assert_digest_eq(digest_add(h128(7, 1ULL << 63), h128(0, 1ULL << 63)), h128(8, 0));
	ck_assert_digest_eq(digest_add(h128(5, UINT64_MAX), h128(2, UINT64_MAX)),
			    h128(8, UINT64_MAX - 1));
	/* Modulo 2^128: the carry out of hi is dropped. */
	ck_assert_digest_eq(digest_add(h128(UINT64_MAX, UINT64_MAX), h128(0, 1)), h128(0, 0));
}
END_TEST

START_TEST(test_digest_sub_borrows_hi_to_lo)
{
	ck_assert_digest_eq(digest_sub(h128(1, 0), h128(0, 1)), h128(0, UINT64_MAX));
	ck_assert_digest_eq(digest_sub(h128(8, UINT64_MAX - 1), h128(2, UINT64_MAX)),
			    h128(5, UINT64_MAX));
	ck_assert_digest_eq(digest_sub(h128(0, 0), h128(0, 1)), h128(UINT64_MAX, UINT64_MAX));
}
END_TEST

START_TEST(test_digest_hex_formats_32_lowercase_digits)
{
	char hex[40];
	struct hash128 d;
	uint64_t seed = 17;
	int i, k;

	memset(hex, 'X', sizeof hex);
	digest_hex(h128(0x0123456789abcdefULL, 0xfedcba9876543210ULL), hex);
	ck_assert_str_eq(hex, "0123456789abcdeffedcba9876543210");
	ck_assert_int_eq(hex[33], 'X');
	digest_hex(h128(0, 0), hex);
	ck_assert_str_eq(hex, "00000000000000000000000000000000");
	digest_hex(h128(0, 1), hex);
	ck_assert_str_eq(hex, "00000000000000000000000000000001");
	for (i = 0; i < 1000; i++) {
		d = h128(rng_next(&seed), rng_next(&seed));
		digest_hex(d, hex);
		ck_assert_uint_eq(strlen(hex), 32);
		for (k = 0; k < 32; k++)
			ck_assert_msg((hex[k] >= '0' && hex[k] <= '9') ||
					      (hex[k] >= 'a' && hex[k] <= 'f'),
				      "'%c' in %s", hex[k], hex);
	}
}
END_TEST

START_TEST(test_digest_put_get_round_trip)
{
	static const uint8_t expect[16] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
					   0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
	uint8_t raw[16];
	struct hash128 d;
	uint64_t seed = 18;
	int i;

	/* The stored form is big-endian hi then lo. */
	digest_put(raw, h128(0x0102030405060708ULL, 0x1112131415161718ULL));
	ck_assert_mem_eq(raw, expect, 16);
	ck_assert_digest_eq(digest_get(expect), h128(0x0102030405060708ULL, 0x1112131415161718ULL));
	for (i = 0; i < 1000; i++) {
		d = h128(rng_next(&seed), rng_next(&seed));
		digest_put(raw, d);
		ck_assert_digest_eq(digest_get(raw), d);
	}
}
END_TEST

Suite *hash_suite(void)
{
	Suite *s = suite_create("hash");
	TCase *tc;

	tc = tcase_create("hash128");
	tcase_add_test(tc, test_hash128_is_deterministic);
	tcase_add_test(tc, test_hash128_golden_values);
	tcase_add_test(tc, test_hash128_seed_changes_hash);
	tcase_add_test(tc, test_hasher_random_splits_equal_one_shot);
	tcase_add_test(tc, test_hasher_byte_at_a_time_equals_one_shot);
	tcase_add_test(tc, test_hash128_trailing_zeros_differ);
	tcase_add_test(tc, test_hash128_bit_flip_changes_both_halves);
	suite_add_tcase(s, tc);

	tc = tcase_create("digest");
	tcase_add_test(tc, test_digest_add_sub_are_inverse);
	tcase_add_test(tc, test_digest_sum_is_order_independent);
	tcase_add_test(tc, test_digest_add_carries_lo_to_hi);
	tcase_add_test(tc, test_digest_sub_borrows_hi_to_lo);
	tcase_add_test(tc, test_digest_hex_formats_32_lowercase_digits);
	tcase_add_test(tc, test_digest_put_get_round_trip);
	suite_add_tcase(s, tc);
	return s;
}
