/*
 * Tests of common/pack.h: every type written by the packer reads back through
 * the strict unpacker at every encoding width; a reader given another type
 * fails with ERR_INVALID, and given a truncated value, a count larger than
 * the input or the reserved byte 0xc1, fails with ERR_CORRUPT, never reading
 * out of bounds and never moving the cursor; unpack_skip steps over nested
 * values of any depth without recursion.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/pack.h"
#include "tests/unit/common/suites.h"

/* Each reader behind one signature, so tables can drive all of them. */
static int read_uint(struct unpacker *u)
{
	uint64_t v;

	return unpack_uint(u, &v);
}

static int read_int(struct unpacker *u)
{
	int64_t v;

	return unpack_int(u, &v);
}

static int read_bool(struct unpacker *u)
{
	bool v;

	return unpack_bool(u, &v);
}

static int read_str(struct unpacker *u)
{
	const char *s;
	size_t n;

	return unpack_str(u, &s, &n);
}

static int read_bin(struct unpacker *u)
{
	const void *p;
	size_t n;

	return unpack_bin(u, &p, &n);
}

static int read_array(struct unpacker *u)
{
	uint32_t n;

	return unpack_array(u, &n);
}

static int read_map(struct unpacker *u)
{
	uint32_t n;

	return unpack_map(u, &n);
}

enum {
	R_UINT = 1 << 0,
	R_INT = 1 << 1,
	R_BOOL = 1 << 2,
	R_NIL = 1 << 3,
	R_STR = 1 << 4,
	R_BIN = 1 << 5,
	R_ARRAY = 1 << 6,
	R_MAP = 1 << 7,
	R_SKIP = 1 << 8,
};

static const struct {
	int bit;
	const char *name;
	int (*read)(struct unpacker *u);
} readers[] = {
	{R_UINT, "uint", read_uint},    {R_INT, "int", read_int}, {R_BOOL, "bool", read_bool},
	{R_NIL, "nil", unpack_nil},     {R_STR, "str", read_str}, {R_BIN, "bin", read_bin},
	{R_ARRAY, "array", read_array}, {R_MAP, "map", read_map}, {R_SKIP, "skip", unpack_skip},
};

#define NREADERS (sizeof readers / sizeof readers[0])

/*
 * One value of each kind and encoding, written by hand so the table does not
 * depend on what msgpack-c chooses to emit, with the readers that accept it.
 * Containers hold one-byte elements only, so every strict prefix of each
 * sample is short of bytes for the reader that accepts it.
 */
static const struct {
	const char *what;
	size_t len;
	uint8_t bytes[12];
	int accept;
	size_t elems; /* Bytes of elements after a container's header. */
} samples[] = {
	{"positive fixint", 1, {0x05}, R_UINT | R_INT | R_SKIP, 0},
	{"uint8", 2, {0xcc, 0x80}, R_UINT | R_INT | R_SKIP, 0},
	{"uint16", 3, {0xcd, 0x01, 0x00}, R_UINT | R_INT | R_SKIP, 0},
	{"uint32", 5, {0xce, 0x00, 0x01, 0x00, 0x00}, R_UINT | R_INT | R_SKIP, 0},
	{"uint64 max",
	 9,
	 {0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	 R_UINT | R_SKIP,
	 0},
	{"negative fixint", 1, {0xff}, R_INT | R_SKIP, 0},
	{"int8", 2, {0xd0, 0x80}, R_INT | R_SKIP, 0},
	{"int16", 3, {0xd1, 0xff, 0x7f}, R_INT | R_SKIP, 0},
	{"int32", 5, {0xd2, 0x80, 0x00, 0x00, 0x00}, R_INT | R_SKIP, 0},
	{"int64", 9, {0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, R_INT | R_SKIP, 0},
	{"false", 1, {0xc2}, R_BOOL | R_SKIP, 0},
	{"true", 1, {0xc3}, R_BOOL | R_SKIP, 0},
	{"nil", 1, {0xc0}, R_NIL | R_SKIP, 0},
	{"fixstr", 3, {0xa2, 'h', 'i'}, R_STR | R_SKIP, 0},
	{"str8", 3, {0xd9, 0x01, 'x'}, R_STR | R_SKIP, 0},
	{"str16", 4, {0xda, 0x00, 0x01, 'x'}, R_STR | R_SKIP, 0},
	{"str32", 6, {0xdb, 0x00, 0x00, 0x00, 0x01, 'x'}, R_STR | R_SKIP, 0},
	{"bin8", 4, {0xc4, 0x02, 0x00, 0xff}, R_BIN | R_SKIP, 0},
	{"bin16", 4, {0xc5, 0x00, 0x01, 0x00}, R_BIN | R_SKIP, 0},
	{"bin32", 6, {0xc6, 0x00, 0x00, 0x00, 0x01, 0x00}, R_BIN | R_SKIP, 0},
	{"fixarray", 3, {0x92, 0x01, 0xc0}, R_ARRAY | R_SKIP, 2},
	{"array16", 4, {0xdc, 0x00, 0x01, 0xc3}, R_ARRAY | R_SKIP, 1},
	{"array32", 6, {0xdd, 0x00, 0x00, 0x00, 0x01, 0x7f}, R_ARRAY | R_SKIP, 1},
	{"fixmap", 3, {0x81, 0x01, 0x02}, R_MAP | R_SKIP, 2},
	{"map16", 5, {0xde, 0x00, 0x01, 0x01, 0x02}, R_MAP | R_SKIP, 2},
	{"map32", 7, {0xdf, 0x00, 0x00, 0x00, 0x01, 0xc0, 0xc0}, R_MAP | R_SKIP, 2},
	{"float32", 5, {0xca, 0x3f, 0xc0, 0x00, 0x00}, R_SKIP, 0},
	{"float64", 9, {0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}, R_SKIP, 0},
	{"fixext1", 3, {0xd4, 0x01, 0xaa}, R_SKIP, 0},
	{"fixext2", 4, {0xd5, 0x01, 0xaa, 0xbb}, R_SKIP, 0},
	{"ext8", 5, {0xc7, 0x02, 0x01, 0xaa, 0xbb}, R_SKIP, 0},
	{"ext16", 5, {0xc8, 0x00, 0x01, 0x01, 0xaa}, R_SKIP, 0},
};

#define NSAMPLES (sizeof samples / sizeof samples[0])

/* Starts a packer on an empty buffer. */
static void pack_start(struct buf *b, struct packer *p)
{
	buf_init(b);
	packer_init(p, b);
}

START_TEST(test_pack_uint_round_trip_every_width)
{
	static const struct {
		uint64_t v;
		size_t size; /* Of the smallest encoding. */
	} cases[] = {
		{0, 1},     {127, 1},   {128, 2},        {255, 2},        {256, 3},
		{65535, 3}, {65536, 5}, {UINT32_MAX, 5}, {1ULL << 32, 9}, {UINT64_MAX, 9},
	};
	struct buf b;
	struct packer p;
	struct unpacker u;
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pack_start(&b, &p);
		ck_assert_int_eq(pack_uint(&p, cases[i].v), 0);
		ck_assert_uint_eq(b.len, cases[i].size);
		unpacker_init(&u, b.data, b.len);
		ck_assert_int_eq(unpack_uint(&u, &v), 0);
		ck_assert_uint_eq(v, cases[i].v);
		ck_assert_uint_eq(unpack_left(&u), 0);
		buf_release(&b);
	}
}
END_TEST

START_TEST(test_pack_int_round_trip_every_width)
{
	static const struct {
		int64_t v;
		size_t size;
	} cases[] = {
		{-1, 1},        {-32, 1},       {-33, 2},
		{-128, 2},      {-129, 3},      {-32768, 3},
		{-32769, 5},    {INT32_MIN, 5}, {(int64_t)INT32_MIN - 1, 9},
		{INT64_MIN, 9}, {0, 1},         {1, 1},
		{300, 3},       {INT64_MAX, 9},
	};
	struct buf b;
	struct packer p;
	struct unpacker u;
	int64_t v;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pack_start(&b, &p);
		ck_assert_int_eq(pack_int(&p, cases[i].v), 0);
		ck_assert_uint_eq(b.len, cases[i].size);
		unpacker_init(&u, b.data, b.len);
		ck_assert_int_eq(unpack_int(&u, &v), 0);
		ck_assert_int_eq(v, cases[i].v);
		ck_assert_uint_eq(unpack_left(&u), 0);
		buf_release(&b);
	}
}
END_TEST

START_TEST(test_unpack_int_sign_extends_every_width)
{
	static const struct {
		uint8_t bytes[9];
		size_t len;
		int64_t v;
	} cases[] = {
		{{0xe0}, 1, -32},
		{{0xd0, 0x80}, 2, -128},
		{{0xd0, 0x7f}, 2, 127},
		{{0xd1, 0xff, 0x7f}, 3, -129},
		{{0xd1, 0x80, 0x00}, 3, INT16_MIN},
		{{0xd2, 0x80, 0x00, 0x00, 0x00}, 5, INT32_MIN},
		{{0xd2, 0xff, 0xff, 0xff, 0xff}, 5, -1},
		{{0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, 9, -2},
		{{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, 9, INT64_MIN},
	};
	struct unpacker u;
	int64_t v;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unpacker_init(&u, cases[i].bytes, cases[i].len);
		ck_assert_int_eq(unpack_int(&u, &v), 0);
		ck_assert_int_eq(v, cases[i].v);
		ck_assert_uint_eq(unpack_left(&u), 0);
	}
}
END_TEST

START_TEST(test_unpack_int_accepts_uint_up_to_int64_max)
{
	static const uint64_t too_big[] = {(uint64_t)INT64_MAX + 1, UINT64_MAX};
	struct buf b;
	struct packer p;
	struct unpacker u;
	int64_t v;
	size_t i;

	pack_start(&b, &p);
	ck_assert_int_eq(pack_uint(&p, INT64_MAX), 0);
	unpacker_init(&u, b.data, b.len);
	ck_assert_int_eq(unpack_int(&u, &v), 0);
	ck_assert_int_eq(v, INT64_MAX);
	buf_release(&b);

	for (i = 0; i < sizeof too_big / sizeof too_big[0]; i++) {
		pack_start(&b, &p);
		ck_assert_int_eq(pack_uint(&p, too_big[i]), 0);
		unpacker_init(&u, b.data, b.len);
		ck_assert_int_eq(unpack_int(&u, &v), ERR_INVALID);
		ck_assert_ptr_eq(u.p, b.data);
		buf_release(&b);
	}
}
END_TEST

START_TEST(test_unpack_uint_rejects_negative)
{
	struct buf b;
	struct packer p;
	struct unpacker u;
	uint64_t v;

	pack_start(&b, &p);
	ck_assert_int_eq(pack_int(&p, -1), 0);
	ck_assert_int_eq(pack_int(&p, INT64_MIN), 0);
	unpacker_init(&u, b.data, b.len);
	ck_assert_int_eq(unpack_uint(&u, &v), ERR_INVALID);
	ck_assert_ptr_eq(u.p, b.data);
	u.p++;
	ck_assert_int_eq(unpack_uint(&u, &v), ERR_INVALID);
	ck_assert_ptr_eq(u.p, b.data + 1);
	buf_release(&b);
}
END_TEST

START_TEST(test_pack_bool_round_trip)
{
	struct buf b;
	struct packer p;
	struct unpacker u;
	bool v;

	pack_start(&b, &p);
	ck_assert_int_eq(pack_bool(&p, true), 0);
	ck_assert_int_eq(pack_bool(&p, false), 0);
	ck_assert_uint_eq(b.len, 2);
	unpacker_init(&u, b.data, b.len);
	ck_assert_int_eq(unpack_bool(&u, &v), 0);
	ck_assert(v);
	ck_assert_int_eq(unpack_bool(&u, &v), 0);
	ck_assert(!v);
	ck_assert_uint_eq(unpack_left(&u), 0);
	buf_release(&b);
}
END_TEST

START_TEST(test_pack_nil_round_trip)
{
	struct buf b;
	struct packer p;
	struct unpacker u;

	pack_start(&b, &p);
	ck_assert_int_eq(pack_nil(&p), 0);
	ck_assert_int_eq(pack_cstr(&p, NULL), 0); /* NULL packs nil too. */
	ck_assert_int_eq(pack_uint(&p, 0), 0);
	unpacker_init(&u, b.data, b.len);
	ck_assert_int_eq(unpack_nil(&u), 0);
	ck_assert_int_eq(unpack_nil(&u), 0);
	ck_assert_uint_eq(unpack_left(&u), 1);
	buf_release(&b);
}
END_TEST

START_TEST(test_unpack_peek_nil_consumes_nothing)
{
	static const uint8_t nil_then_zero[] = {0xc0, 0x00};
	struct unpacker u;

	unpacker_init(&u, nil_then_zero, sizeof nil_then_zero);
	ck_assert(unpack_peek_nil(&u));
	ck_assert_uint_eq(unpack_left(&u), 2);
	ck_assert_int_eq(unpack_nil(&u), 0);
	ck_assert(!unpack_peek_nil(&u)); /* 0x00 is the integer 0, not nil. */
	ck_assert_uint_eq(unpack_left(&u), 1);
	/* Empty input, even with a nil byte just past its end. */
	unpacker_init(&u, nil_then_zero, 0);
	ck_assert(!unpack_peek_nil(&u));
}
END_TEST

START_TEST(test_pack_str_round_trip_every_width)
{
	/* fixstr, str8, str16 and str32 boundaries. */
	static const size_t lens[] = {0, 1, 31, 32, 255, 256, 65535, 65536, 70000};
	static const size_t hsize[] = {1, 1, 1, 2, 2, 3, 3, 5, 5};
	struct buf b;
	struct packer p;
	struct unpacker u;
	char *text;
	const char *s;
	size_t i, n, k;

	text = malloc(70000);
	ck_assert_ptr_nonnull(text);
	for (k = 0; k < 70000; k++)
		text[k] = (char)('a' + k % 26);
	for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		pack_start(&b, &p);
		ck_assert_int_eq(pack_str(&p, text, lens[i]), 0);
		ck_assert_uint_eq(b.len, hsize[i] + lens[i]);
		unpacker_init(&u, b.data, b.len);
		ck_assert_int_eq(unpack_str(&u, &s, &n), 0);
		ck_assert_uint_eq(n, lens[i]);
		/* Borrowed: the string points into the input. */
		ck_assert_ptr_eq(s, (const char *)b.data + hsize[i]);
		ck_assert_int_eq(memcmp(s, text, n), 0);
		ck_assert_uint_eq(unpack_left(&u), 0);
		buf_release(&b);
	}
	free(text);
}
END_TEST

START_TEST(test_pack_cstr_round_trip)
{
	struct buf b;
	struct packer p;
	struct unpacker u;
	const char *s;
	size_t n;

	pack_start(&b, &p);
	ck_assert_int_eq(pack_cstr(&p, "node=3"), 0);
	unpacker_init(&u, b.data, b.len);
	ck_assert_int_eq(unpack_str(&u, &s, &n), 0);
	ck_assert_uint_eq(n, 6);
	ck_assert_int_eq(memcmp(s, "node=3", 6), 0);
	buf_release(&b);
}
END_TEST

START_TEST(test_pack_bin_round_trip_every_width)
{
	/* bin8, bin16 and bin32 boundaries. */
	static const size_t lens[] = {0, 1, 255, 256, 65535, 65536};
	static const size_t hsize[] = {2, 2, 2, 3, 3, 5};
	struct buf b;
	struct packer p;
	struct unpacker u;
	uint8_t *data;
	const void *d;
	size_t i, n, k;

	data = malloc(65536);
	ck_assert_ptr_nonnull(data);
	for (k = 0; k < 65536; k++)
		data[k] = (uint8_t)(k * 7 + (k >> 8));
	for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		pack_start(&b, &p);
		ck_assert_int_eq(pack_bin(&p, data, lens[i]), 0);
		ck_assert_uint_eq(b.len, hsize[i] + lens[i]);
		unpacker_init(&u, b.data, b.len);
		ck_assert_int_eq(unpack_bin(&u, &d, &n), 0);
		ck_assert_uint_eq(n, lens[i]);
		ck_assert_ptr_eq(d, b.data + hsize[i]);
		ck_assert_int_eq(memcmp(d, data, n), 0);
		ck_assert_uint_eq(unpack_left(&u), 0);
		buf_release(&b);
	}
	free(data);
}
END_TEST

START_TEST(test_pack_array_round_trip_every_width)
{
	/* fixarray, array16 and array32 boundaries. */
	static const uint32_t counts[] = {0, 15, 16, 65535, 65536};
	static const size_t hsize[] = {1, 1, 3, 3, 5};
	struct buf b;
	struct packer p;
	struct unpacker u;
	uint32_t n, k;
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		pack_start(&b, &p);
		ck_assert_int_eq(pack_array(&p, counts[i]), 0);
		ck_assert_uint_eq(b.len, hsize[i]);
		for (k = 0; k < counts[i]; k++)
			ck_assert_int_eq(pack_uint(&p, k % 100), 0);
		unpacker_init(&u, b.data, b.len);
		ck_assert_int_eq(unpack_array(&u, &n), 0);
		ck_assert_uint_eq(n, counts[i]);
		for (k = 0; k < n; k++) {
			ck_assert_int_eq(unpack_uint(&u, &v), 0);
			ck_assert_uint_eq(v, k % 100);
		}
		ck_assert_uint_eq(unpack_left(&u), 0);
		buf_release(&b);
	}
}
END_TEST

START_TEST(test_pack_map_round_trip)
{
	struct buf b;
	struct packer p;
	struct unpacker u;
	const char *s;
	const void *d;
	uint32_t n;
	uint64_t uv;
	int64_t iv;
	bool bv;
	size_t len;

	/* {"pid": 42, "delta": -7, "alive": true, "out": bin"\x00\x01", "tags": ["a"], "x": nil} */
	pack_start(&b, &p);
	pack_map(&p, 6);
	pack_cstr(&p, "pid");
	pack_uint(&p, 42);
	pack_cstr(&p, "delta");
	pack_int(&p, -7);
	pack_cstr(&p, "alive");
	pack_bool(&p, true);
	pack_cstr(&p, "out");
	pack_bin(&p, "\x00\x01", 2);
	pack_cstr(&p, "tags");
	pack_array(&p, 1);
	pack_cstr(&p, "a");
	pack_cstr(&p, "x");
	ck_assert_int_eq(pack_nil(&p), 0); /* The error is sticky: 0 means all succeeded. */

	unpacker_init(&u, b.data, b.len);
	ck_assert_int_eq(unpack_map(&u, &n), 0);
	ck_assert_uint_eq(n, 6);
	ck_assert_int_eq(unpack_str(&u, &s, &len), 0);
	ck_assert_int_eq(len == 3 && memcmp(s, "pid", 3) == 0, 1);
	ck_assert_int_eq(unpack_uint(&u, &uv), 0);
	ck_assert_uint_eq(uv, 42);
	ck_assert_int_eq(unpack_str(&u, &s, &len), 0);
	ck_assert_int_eq(len == 5 && memcmp(s, "delta", 5) == 0, 1);
	ck_assert_int_eq(unpack_int(&u, &iv), 0);
	ck_assert_int_eq(iv, -7);
	ck_assert_int_eq(unpack_str(&u, &s, &len), 0);
	ck_assert_int_eq(unpack_bool(&u, &bv), 0);
	ck_assert(bv);
	ck_assert_int_eq(unpack_str(&u, &s, &len), 0);
	ck_assert_int_eq(unpack_bin(&u, &d, &len), 0);
	ck_assert_uint_eq(len, 2);
	ck_assert_mem_eq(d, "\x00\x01", 2);
	ck_assert_int_eq(unpack_str(&u, &s, &len), 0);
	ck_assert_int_eq(unpack_array(&u, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(unpack_str(&u, &s, &len), 0);
	ck_assert_int_eq(len == 1 && s[0] == 'a', 1);
	ck_assert_int_eq(unpack_str(&u, &s, &len), 0);
	ck_assert_int_eq(unpack_nil(&u), 0);
	ck_assert_uint_eq(unpack_left(&u), 0);
	buf_release(&b);
}
END_TEST

START_TEST(test_pack_map_header_every_width)
{
	/* fixmap, map16 and map32 boundaries. */
	static const uint32_t counts[] = {0, 15, 16, 65536};
	static const uint8_t first[] = {0x80, 0x8f, 0xde, 0xdf};
	struct buf b;
	struct packer p;
	struct unpacker u;
	uint32_t n, k;
	size_t i;

	for (i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		pack_start(&b, &p);
		ck_assert_int_eq(pack_map(&p, counts[i]), 0);
		ck_assert_uint_eq(b.data[0], first[i]);
		for (k = 0; k < 2 * counts[i]; k++)
			pack_nil(&p);
		unpacker_init(&u, b.data, b.len);
		ck_assert_int_eq(unpack_map(&u, &n), 0);
		ck_assert_uint_eq(n, counts[i]);
		ck_assert_uint_eq(unpack_left(&u), 2 * (size_t)counts[i]);
		buf_release(&b);
	}
}
END_TEST

START_TEST(test_unpack_wrong_type_is_invalid_and_keeps_cursor)
{
	struct unpacker u;
	size_t s, r, left;
	int rv;

	for (s = 0; s < NSAMPLES; s++) {
		for (r = 0; r < NREADERS; r++) {
			unpacker_init(&u, samples[s].bytes, samples[s].len);
			rv = readers[r].read(&u);
			if (samples[s].accept & readers[r].bit) {
				/* Array and map readers consume the header only. */
				left = readers[r].bit & (R_ARRAY | R_MAP) ? samples[s].elems : 0;
				ck_assert_msg(rv == 0 && unpack_left(&u) == left,
					      "%s reading %s: rv %d, %zu bytes left",
					      readers[r].name, samples[s].what, rv,
					      unpack_left(&u));
			} else {
				ck_assert_msg(rv == ERR_INVALID,
					      "%s reading %s: rv %d, want invalid", readers[r].name,
					      samples[s].what, rv);
				ck_assert_msg(u.p == samples[s].bytes,
					      "%s reading %s moved the cursor", readers[r].name,
					      samples[s].what);
			}
		}
	}
}
END_TEST

START_TEST(test_unpack_truncated_is_corrupt_for_every_reader)
{
	struct unpacker u;
	uint8_t *copy;
	size_t s, r, cut;
	int rv;

	for (s = 0; s < NSAMPLES; s++) {
		for (cut = 0; cut < samples[s].len; cut++) {
			/* A heap copy of exactly `cut` bytes, so a read past it is caught by
			 * sanitizers and valgrind. */
			copy = malloc(cut ? cut : 1);
			ck_assert_ptr_nonnull(copy);
			memcpy(copy, samples[s].bytes, cut);
			for (r = 0; r < NREADERS; r++) {
				if (!(samples[s].accept & readers[r].bit))
					continue;
				unpacker_init(&u, copy, cut);
				rv = readers[r].read(&u);
				ck_assert_msg(rv == ERR_CORRUPT,
					      "%s reading %s cut to %zu bytes: rv %d, want corrupt",
					      readers[r].name, samples[s].what, cut, rv);
				ck_assert_ptr_eq(u.p, copy);
			}
			free(copy);
		}
	}
}
END_TEST

/*
 * Truncates a packer-made value at every byte and expects ERR_CORRUPT from
 * `read`. Values over 8 KiB are cut at every byte of their first and last
 * 4 KiB (the header and the final elements), which keeps the test linear.
 */
static void check_truncations(const struct buf *b, int (*read)(struct unpacker *u),
			      const char *what)
{
	struct unpacker u;
	size_t cut;
	int rv;

	for (cut = 0; cut < b->len; cut++) {
		if (cut == 4096 && b->len > 8192)
			cut = b->len - 4096;
		unpacker_init(&u, b->data, cut);
		rv = read(&u);
		ck_assert_msg(rv == ERR_CORRUPT, "%s cut to %zu of %zu bytes: rv %d", what, cut,
			      b->len, rv);
		ck_assert_ptr_eq(u.p, b->data);
		/* unpack_skip must agree on every prefix. */
		ck_assert_int_eq(unpack_skip(&u), ERR_CORRUPT);
		ck_assert_ptr_eq(u.p, b->data);
	}
	/* The whole value reads (containers: the header) and skips. */
	unpacker_init(&u, b->data, b->len);
	ck_assert_msg(read(&u) == 0, "%s does not read whole", what);
	unpacker_init(&u, b->data, b->len);
	ck_assert_int_eq(unpack_skip(&u), 0);
	ck_assert_uint_eq(unpack_left(&u), 0);
}

START_TEST(test_unpack_truncated_wide_values_are_corrupt)
{
	static const uint64_t uints[] = {200, 60000, 1ULL << 31, UINT64_MAX};
	static const int64_t ints[] = {-100, -1000, -100000, INT64_MIN};
	static const size_t lens[] = {40, 300, 70000};
	static const uint32_t counts[] = {20, 70000};
	struct buf b;
	struct packer p;
	uint8_t *zeros;
	size_t i;
	uint32_t k;

	for (i = 0; i < sizeof uints / sizeof uints[0]; i++) {
		pack_start(&b, &p);
		pack_uint(&p, uints[i]);
		check_truncations(&b, read_uint, "uint");
		buf_release(&b);
	}
	for (i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		pack_start(&b, &p);
		pack_int(&p, ints[i]);
		check_truncations(&b, read_int, "int");
		buf_release(&b);
	}
	zeros = calloc(70000, 1);
	ck_assert_ptr_nonnull(zeros);
	for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		pack_start(&b, &p);
		pack_str(&p, (const char *)zeros, lens[i]);
		check_truncations(&b, read_str, "str");
		buf_release(&b);
		pack_start(&b, &p);
		pack_bin(&p, zeros, lens[i]);
		check_truncations(&b, read_bin, "bin");
		buf_release(&b);
	}
	free(zeros);
	/* Containers of one-byte elements: every prefix is short of elements. */
	for (i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		pack_start(&b, &p);
		pack_array(&p, counts[i]);
		for (k = 0; k < counts[i]; k++)
			pack_nil(&p);
		check_truncations(&b, read_array, "array");
		buf_release(&b);
		pack_start(&b, &p);
		pack_map(&p, counts[i]);
		for (k = 0; k < counts[i]; k++) {
			pack_uint(&p, k % 128);
			pack_bool(&p, k % 2);
		}
		check_truncations(&b, read_map, "map");
		buf_release(&b);
	}
}
END_TEST

START_TEST(test_unpack_array_count_beyond_input_is_corrupt)
{
	static const struct {
		const char *what;
		size_t len;
		uint8_t bytes[8];
		int (*read)(struct unpacker *u);
	} cases[] = {
		{"fixarray of 3 with 2", 3, {0x93, 0x01, 0x02}, read_array},
		{"array16 of 16 with 3", 6, {0xdc, 0x00, 0x10, 0xc0, 0xc0, 0xc0}, read_array},
		{"array32 of 2^32-1 with 2",
		 7,
		 {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0},
		 read_array},
		{"fixmap of 2 with 3", 4, {0x82, 0x01, 0x02, 0x03}, read_map},
		{"map16 of 1 with 1", 4, {0xde, 0x00, 0x01, 0xc0}, read_map},
		{"map32 of 2^32-1 with 3",
		 8,
		 {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0, 0xc0},
		 read_map},
	};
	struct unpacker u;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unpacker_init(&u, cases[i].bytes, cases[i].len);
		ck_assert_msg(cases[i].read(&u) == ERR_CORRUPT, "%s", cases[i].what);
		ck_assert_ptr_eq(u.p, cases[i].bytes);
		ck_assert_msg(unpack_skip(&u) == ERR_CORRUPT, "skip %s", cases[i].what);
		ck_assert_ptr_eq(u.p, cases[i].bytes);
	}
}
END_TEST

START_TEST(test_unpack_length_beyond_input_is_corrupt)
{
	/* Huge declared lengths must be rejected without reading or wrapping around. */
	static const struct {
		const char *what;
		size_t len;
		uint8_t bytes[8];
		int (*read)(struct unpacker *u);
	} cases[] = {
		{"str32 of 2^32-1", 7, {0xdb, 0xff, 0xff, 0xff, 0xff, 'a', 'b'}, read_str},
		{"bin32 of 2^32-1", 7, {0xc6, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01}, read_bin},
		{"ext32 of 2^32-1", 7, {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00}, unpack_skip},
		{"fixstr of 5 with 2", 3, {0xa5, 'a', 'b'}, read_str},
	};
	struct unpacker u;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unpacker_init(&u, cases[i].bytes, cases[i].len);
		ck_assert_msg(cases[i].read(&u) == ERR_CORRUPT, "%s", cases[i].what);
		ck_assert_ptr_eq(u.p, cases[i].bytes);
	}
}
END_TEST

START_TEST(test_unpack_reserved_byte_is_corrupt)
{
	static const uint8_t c1[] = {0xc1, 0x00, 0x00};
	struct unpacker u;
	size_t r;

	for (r = 0; r < NREADERS; r++) {
		unpacker_init(&u, c1, sizeof c1);
		ck_assert_msg(readers[r].read(&u) == ERR_CORRUPT, "%s reading 0xc1",
			      readers[r].name);
		ck_assert_ptr_eq(u.p, c1);
	}
}
END_TEST

START_TEST(test_unpack_empty_input_is_corrupt)
{
	static const uint8_t none[1] = {0};
	struct unpacker u;
	size_t r;

	for (r = 0; r < NREADERS; r++) {
		unpacker_init(&u, none, 0);
		ck_assert_msg(readers[r].read(&u) == ERR_CORRUPT, "%s on empty input",
			      readers[r].name);
	}
}
END_TEST

/*
 * [{"a": [1, [2, "xy"], {}], "b": bin"\x01\x02\x03", "c": {"d": [[nil]]}},
 *  -5, [[[]]], true]
 */
static void pack_nested(struct packer *p)
{
	pack_array(p, 4);
	pack_map(p, 3);
	pack_cstr(p, "a");
	pack_array(p, 3);
	pack_uint(p, 1);
	pack_array(p, 2);
	pack_uint(p, 2);
	pack_cstr(p, "xy");
	pack_map(p, 0);
	pack_cstr(p, "b");
	pack_bin(p, "\x01\x02\x03", 3);
	pack_cstr(p, "c");
	pack_map(p, 1);
	pack_cstr(p, "d");
	pack_array(p, 1);
	pack_array(p, 1);
	pack_nil(p);
	pack_int(p, -5);
	pack_array(p, 1);
	pack_array(p, 1);
	pack_array(p, 0);
	pack_bool(p, true);
}

START_TEST(test_unpack_skip_nested_value)
{
	struct buf b;
	struct packer p;
	struct unpacker u;
	uint64_t v;

	pack_start(&b, &p);
	pack_nested(&p);
	ck_assert_int_eq(pack_uint(&p, 7), 0); /* A marker after the value. */
	unpacker_init(&u, b.data, b.len);
	ck_assert_int_eq(unpack_skip(&u), 0);
	ck_assert_uint_eq(unpack_left(&u), 1);
	ck_assert_int_eq(unpack_uint(&u, &v), 0);
	ck_assert_uint_eq(v, 7);
	buf_release(&b);
}
END_TEST

START_TEST(test_unpack_skip_each_element)
{
	struct buf b;
	struct packer p;
	struct unpacker u;
	uint32_t n, k;
	int64_t iv;
	bool bv;
	const uint8_t *before;

	pack_start(&b, &p);
	pack_nested(&p);
	unpacker_init(&u, b.data, b.len);
	ck_assert_int_eq(unpack_array(&u, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(unpack_skip(&u), 0); /* The map. */
	ck_assert_int_eq(unpack_int(&u, &iv), 0);
	ck_assert_int_eq(iv, -5);
	before = u.p;
	ck_assert_int_eq(unpack_skip(&u), 0); /* [[[]]] is four bytes. */
	ck_assert_ptr_eq(u.p, before + 3);
	ck_assert_int_eq(unpack_bool(&u, &bv), 0);
	ck_assert(bv);
	ck_assert_uint_eq(unpack_left(&u), 0);
	/* Skipping every element of the inner map one by one also lands on -5. */
	unpacker_init(&u, b.data, b.len);
	ck_assert_int_eq(unpack_array(&u, &n), 0);
	ck_assert_int_eq(unpack_map(&u, &n), 0);
	ck_assert_uint_eq(n, 3);
	for (k = 0; k < 2 * n; k++)
		ck_assert_int_eq(unpack_skip(&u), 0);
	ck_assert_int_eq(unpack_int(&u, &iv), 0);
	ck_assert_int_eq(iv, -5);
	buf_release(&b);
}
END_TEST

START_TEST(test_unpack_skip_truncated_nested_is_corrupt)
{
	struct buf b;
	struct packer p;
	struct unpacker u;
	uint8_t *copy;
	size_t cut;

	pack_start(&b, &p);
	pack_nested(&p);
	for (cut = 0; cut < b.len; cut++) {
		copy = malloc(cut ? cut : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, b.data, cut);
		unpacker_init(&u, copy, cut);
		ck_assert_msg(unpack_skip(&u) == ERR_CORRUPT, "cut to %zu of %zu", cut, b.len);
		ck_assert_ptr_eq(u.p, copy);
		free(copy);
	}
	buf_release(&b);
}
END_TEST

START_TEST(test_unpack_skip_rejects_reserved_byte_inside)
{
	/* [1, {"k": 0xc1}] */
	static const uint8_t bad[] = {0x92, 0x01, 0x81, 0xa1, 'k', 0xc1};
	struct unpacker u;

	unpacker_init(&u, bad, sizeof bad);
	ck_assert_int_eq(unpack_skip(&u), ERR_CORRUPT);
	ck_assert_ptr_eq(u.p, bad);
}
END_TEST

/* Deep enough that a recursive skip overflows the default 8 MiB stack even
 * with small optimised frames. */
#define DEEP 1000000

START_TEST(test_unpack_skip_deep_nesting_without_recursion)
{
	uint8_t *deep;
	struct unpacker u;
	size_t i;

	/* [[[...[nil]...]]]: a million array-of-1 headers (0x91), then nil. */
	deep = malloc(2 * DEEP + 1);
	ck_assert_ptr_nonnull(deep);
	memset(deep, 0x91, DEEP);
	deep[DEEP] = 0xc0;
	unpacker_init(&u, deep, DEEP + 1);
	ck_assert_int_eq(unpack_skip(&u), 0);
	ck_assert_uint_eq(unpack_left(&u), 0);

	/* {nil: {nil: ... {nil: nil}}}: the same through maps. */
	for (i = 0; i < DEEP; i++) {
		deep[2 * i] = 0x81;
		deep[2 * i + 1] = 0xc0;
	}
	deep[2 * DEEP] = 0xc0;
	unpacker_init(&u, deep, 2 * DEEP + 1);
	ck_assert_int_eq(unpack_skip(&u), 0);
	ck_assert_uint_eq(unpack_left(&u), 0);
	free(deep);
}
END_TEST

START_TEST(test_unpack_skip_deep_nesting_truncated_is_corrupt)
{
	uint8_t *deep;
	struct unpacker u;

	deep = malloc(DEEP);
	ck_assert_ptr_nonnull(deep);
	memset(deep, 0x91, DEEP);
	unpacker_init(&u, deep, DEEP); /* The innermost value is missing. */
	ck_assert_int_eq(unpack_skip(&u), ERR_CORRUPT);
	ck_assert_ptr_eq(u.p, deep);
	free(deep);
}
END_TEST

Suite *pack_suite(void)
{
	Suite *s = suite_create("pack");
	TCase *tc;

	tc = tcase_create("round trip");
	tcase_add_test(tc, test_pack_uint_round_trip_every_width);
	tcase_add_test(tc, test_pack_int_round_trip_every_width);
	tcase_add_test(tc, test_unpack_int_sign_extends_every_width);
	tcase_add_test(tc, test_unpack_int_accepts_uint_up_to_int64_max);
	tcase_add_test(tc, test_unpack_uint_rejects_negative);
	tcase_add_test(tc, test_pack_bool_round_trip);
	tcase_add_test(tc, test_pack_nil_round_trip);
	tcase_add_test(tc, test_unpack_peek_nil_consumes_nothing);
	tcase_add_test(tc, test_pack_str_round_trip_every_width);
	tcase_add_test(tc, test_pack_cstr_round_trip);
	tcase_add_test(tc, test_pack_bin_round_trip_every_width);
	tcase_add_test(tc, test_pack_array_round_trip_every_width);
	tcase_add_test(tc, test_pack_map_round_trip);
	tcase_add_test(tc, test_pack_map_header_every_width);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad input");
	tcase_add_test(tc, test_unpack_wrong_type_is_invalid_and_keeps_cursor);
	tcase_add_test(tc, test_unpack_truncated_is_corrupt_for_every_reader);
	tcase_add_test(tc, test_unpack_truncated_wide_values_are_corrupt);
	tcase_add_test(tc, test_unpack_array_count_beyond_input_is_corrupt);
	tcase_add_test(tc, test_unpack_length_beyond_input_is_corrupt);
	tcase_add_test(tc, test_unpack_reserved_byte_is_corrupt);
	tcase_add_test(tc, test_unpack_empty_input_is_corrupt);
	suite_add_tcase(s, tc);

	tc = tcase_create("skip");
	tcase_add_test(tc, test_unpack_skip_nested_value);
	tcase_add_test(tc, test_unpack_skip_each_element);
	tcase_add_test(tc, test_unpack_skip_truncated_nested_is_corrupt);
	tcase_add_test(tc, test_unpack_skip_rejects_reserved_byte_inside);
	tcase_add_test(tc, test_unpack_skip_deep_nesting_without_recursion);
	tcase_add_test(tc, test_unpack_skip_deep_nesting_truncated_is_corrupt);
	suite_add_tcase(s, tc);
	return s;
}
