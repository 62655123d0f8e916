/*
 * Tests of common/buf.h: growable byte buffers keep what was appended across
 * growth, big-endian integers round-trip and sort numerically under memcmp
 * (the property every binary key relies on), padding adds zero bytes up to
 * the alignment, and stealing or releasing leaves an empty, reusable buffer.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/buf.h"
#include "common/error.h"
#include "tests/unit/common/suites.h"

/* xorshift64*: a seeded generator, so a failure replays exactly. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

START_TEST(test_buf_init_is_empty)
{
	struct buf b;

	memset(&b, 0xff, sizeof b);
	buf_init(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
}
END_TEST

START_TEST(test_buf_append_keeps_contents_across_growth)
{
	struct buf b;
	uint8_t chunk[300];
	uint8_t *expect;
	size_t total = 0, i, n;
	uint64_t seed = 1;

	expect = malloc(64 * 1024);
	ck_assert_ptr_nonnull(expect);
	buf_init(&b);
	/* Chunks of 0..299 bytes, so growth happens at every offset. */
	while (total + sizeof chunk <= 64 * 1024) {
		n = (size_t)(rng_next(&seed) % sizeof chunk);
		for (i = 0; i < n; i++)
			chunk[i] = (uint8_t)rng_next(&seed);
		ck_assert_int_eq(buf_append(&b, chunk, n), 0);
		memcpy(expect + total, chunk, n);
		total += n;
		ck_assert_uint_eq(b.len, total);
		ck_assert_uint_ge(b.cap, b.len);
	}
	ck_assert_mem_eq(b.data, expect, total);
	buf_release(&b);
	free(expect);
}
END_TEST

START_TEST(test_buf_append_zero_bytes_is_noop)
{
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(buf_append(&b, NULL, 0), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(buf_append(&b, "ab", 2), 0);
	ck_assert_int_eq(buf_append(&b, NULL, 0), 0);
	ck_assert_uint_eq(b.len, 2);
	ck_assert_mem_eq(b.data, "ab", 2);
	buf_release(&b);
}
END_TEST

START_TEST(test_buf_reserve_grows_capacity_not_length)
{
	struct buf b;
	uint8_t *before;

	buf_init(&b);
	ck_assert_int_eq(buf_append(&b, "xyz", 3), 0);
	ck_assert_int_eq(buf_reserve(&b, 1000), 0);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_uint_ge(b.cap, 1003);
	ck_assert_mem_eq(b.data, "xyz", 3);
	/* Appending within the reservation does not move the memory. */
	before = b.data;
	ck_assert_int_eq(buf_append(&b, "0123456789", 10), 0);
	ck_assert_ptr_eq(b.data, before);
	buf_release(&b);
}
END_TEST

START_TEST(test_buf_reserve_overflow_is_nomem)
{
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
	ck_assert_int_eq(buf_reserve(&b, SIZE_MAX), ERR_NOMEM);
	ck_assert_int_eq(buf_append(&b, "d", SIZE_MAX - 1), ERR_NOMEM);
	/* The buffer is unchanged. */
	ck_assert_uint_eq(b.len, 3);
	ck_assert_mem_eq(b.data, "abc", 3);
	buf_release(&b);
}
END_TEST

START_TEST(test_buf_put_writes_big_endian)
{
	static const uint8_t expect[] = {0xaa, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
					 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e};
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(buf_put_u8(&b, 0xaa), 0);
	ck_assert_int_eq(buf_put_u16be(&b, 0x0102), 0);
	ck_assert_int_eq(buf_put_u32be(&b, 0x03040506), 0);
	ck_assert_int_eq(buf_put_u64be(&b, 0x0708090a0b0c0d0eULL), 0);
	ck_assert_uint_eq(b.len, sizeof expect);
	ck_assert_mem_eq(b.data, expect, sizeof expect);
	buf_release(&b);
}
END_TEST

START_TEST(test_be64_put_one_is_last_byte)
{
	static const uint8_t one[8] = {0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t top[8] = {0x80, 0, 0, 0, 0, 0, 0, 0};
	uint8_t p[8];

	be64_put(p, 1);
	ck_assert_mem_eq(p, one, 8);
	be64_put(p, 1ULL << 63);
	ck_assert_mem_eq(p, top, 8);
}
END_TEST

START_TEST(test_be_get_reads_big_endian)
{
	static const uint8_t p[8] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};

	ck_assert_uint_eq(be16_get(p), 0x0102);
	ck_assert_uint_eq(be32_get(p), 0x01020304);
	ck_assert_uint_eq(be64_get(p), 0x0102030405060708ULL);
}
END_TEST

START_TEST(test_be_put_get_round_trip)
{
	static const uint64_t edges[] = {0,          1,          0x7f,      0x80,
					 0xff,       0x100,      0xffff,    0x10000,
					 0xffffffff, 1ULL << 32, INT64_MAX, UINT64_MAX};
	uint64_t seed = 2, v;
	uint8_t p[8];
	size_t i;

	for (i = 0; i < 1000 + sizeof edges / sizeof edges[0]; i++) {
		v = i < sizeof edges / sizeof edges[0] ? edges[i] : rng_next(&seed);
		be64_put(p, v);
		ck_assert_uint_eq(be64_get(p), v);
		be32_put(p, (uint32_t)v);
		ck_assert_uint_eq(be32_get(p), (uint32_t)v);
		be16_put(p, (uint16_t)v);
		ck_assert_uint_eq(be16_get(p), (uint16_t)v);
	}
}
END_TEST

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

START_TEST(test_be64_keys_sort_numerically)
{
	uint64_t seed = 3, a, b;
	uint8_t pa[8], pb[8];
	int i, expect;

	for (i = 0; i < 10000; i++) {
		a = rng_next(&seed);
		/* Mix small gaps, shared high bytes and equal values in. */
		switch (i % 4) {
		case 0:
			b = rng_next(&seed);
			break;
		case 1:
			b = a + (rng_next(&seed) % 512) - 256;
			break;
		case 2:
			b = a ^ (1ULL << (rng_next(&seed) % 64));
			break;
		default:
			b = a;
			break;
		}
		be64_put(pa, a);
		be64_put(pb, b);
		expect = (a > b) - (a < b);
		ck_assert_msg(sign(memcmp(pa, pb, 8)) == expect,
			      "memcmp order of %llx and %llx disagrees with numeric order",
			      (unsigned long long)a, (unsigned long long)b);
	}
}
END_TEST

START_TEST(test_buf_pad_to_multiple_of_8_with_zeros)
{
	static const uint8_t zeros[8] = {0};
	struct buf b;
	size_t len, want;

	for (len = 0; len <= 24; len++) {
		/* Stale non-zero bytes past len, so padding must really write zeros. */
		buf_init(&b);
		for (size_t i = 0; i < 32; i++)
			ck_assert_int_eq(buf_put_u8(&b, 0xee), 0);
		b.len = len;
		ck_assert_int_eq(buf_pad(&b, 8), 0);
		want = (len + 7) / 8 * 8;
		ck_assert_uint_eq(b.len, want);
		for (size_t i = 0; i < len; i++)
			ck_assert_uint_eq(b.data[i], 0xee);
		if (want > len)
			ck_assert_mem_eq(b.data + len, zeros, want - len);
		buf_release(&b);
	}
}
END_TEST

START_TEST(test_buf_pad_other_alignments)
{
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
	ck_assert_int_eq(buf_pad(&b, 1), 0);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_int_eq(buf_pad(&b, 4), 0);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_int_eq(buf_pad(&b, 16), 0);
	ck_assert_uint_eq(b.len, 16);
	ck_assert_mem_eq(b.data, "abc\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	buf_release(&b);
}
END_TEST

START_TEST(test_buf_steal_leaves_empty_buffer)
{
	struct buf b;
	uint8_t *p;
	size_t len = 0;

	buf_init(&b);
	ck_assert_int_eq(buf_append(&b, "hello", 5), 0);
	p = buf_steal(&b, &len);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(p, "hello", 5);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	/* The emptied buffer is usable and independent of the stolen memory. */
	ck_assert_int_eq(buf_append(&b, "bye", 3), 0);
	ck_assert_mem_eq(b.data, "bye", 3);
	ck_assert_mem_eq(p, "hello", 5);
	free(p);
	buf_release(&b);
}
END_TEST

START_TEST(test_buf_release_leaves_empty_buffer)
{
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(buf_append(&b, "data", 4), 0);
	buf_release(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	buf_release(&b); /* Releasing an empty buffer is harmless. */
	ck_assert_ptr_null(b.data);
}
END_TEST

Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc;

	tc = tcase_create("buf");
	tcase_add_test(tc, test_buf_init_is_empty);
	tcase_add_test(tc, test_buf_append_keeps_contents_across_growth);
	tcase_add_test(tc, test_buf_append_zero_bytes_is_noop);
	tcase_add_test(tc, test_buf_reserve_grows_capacity_not_length);
	tcase_add_test(tc, test_buf_reserve_overflow_is_nomem);
	tcase_add_test(tc, test_buf_put_writes_big_endian);
	tcase_add_test(tc, test_buf_pad_to_multiple_of_8_with_zeros);
	tcase_add_test(tc, test_buf_pad_other_alignments);
	tcase_add_test(tc, test_buf_steal_leaves_empty_buffer);
	tcase_add_test(tc, test_buf_release_leaves_empty_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("be");
	tcase_add_test(tc, test_be64_put_one_is_last_byte);
	tcase_add_test(tc, test_be_get_reads_big_endian);
	tcase_add_test(tc, test_be_put_get_round_trip);
	tcase_add_test(tc, test_be64_keys_sort_numerically);
	suite_add_tcase(s, tc);
	return s;
}
