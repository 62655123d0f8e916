/*
 * The 128-bit hash and digest helpers of common/hash.h.
 *
 * Two 64-bit lanes absorb the input one little-endian word at a time; each
 * word is multiplied into one lane and rotated into the other, and the lanes
 * are crossed and run through a 64-bit avalanche finalizer at the end. The
 * length is folded in, so inputs that differ only by trailing zero bytes hash
 * differently.
 */
#include "config.h"

#include <string.h>

#include "common/buf.h"
#include "common/hash.h"

#define K1 0x9e3779b97f4a7c15ULL
#define K2 0xc2b2ae3d27d4eb4fULL
#define K3 0x165667b19e3779f9ULL
#define K4 0xd6e8feb86659fd93ULL

static inline uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t avalanche(uint64_t x)
{
	x ^= x >> 31;
	x *= K4;
	x ^= x >> 29;
	x *= K2;
	x ^= x >> 32;
	return x;
}

static inline uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline void absorb(struct hasher *h, uint64_t w)
{
	h->h1 ^= rotl(w * K1, 29) * K2;
	h->h1 = rotl(h->h1, 27) + h->h2;
	h->h1 = h->h1 * 5 + K3;
	h->h2 += rotl(w * K2, 33) * K1;
	h->h2 = rotl(h->h2, 31) ^ h->h1;
	h->h2 = h->h2 * 9 + K4;
}

void hasher_init(struct hasher *h, uint64_t seed)
{
	h->h1 = seed ^ K1;
	h->h2 = rotl(seed, 32) ^ K2;
	h->total = 0;
	h->ntail = 0;
}

void hasher_update(struct hasher *h, const void *data, size_t n)
{
	const uint8_t *p = data;

	if (n == 0)
		return;
	h->total += n;
	if (h->ntail > 0) {
		while (n > 0 && h->ntail < 8) {
			h->tail[h->ntail++] = *p++;
			n--;
		}
		if (h->ntail < 8)
			return;
		absorb(h, le64(h->tail));
		h->ntail = 0;
	}
	while (n >= 8) {
		absorb(h, le64(p));
		p += 8;
		n -= 8;
	}
	memcpy(h->tail, p, n);
	h->ntail = (unsigned)n;
}

struct hash128 hasher_final(struct hasher *h)
{
	struct hash128 r;
	uint8_t last[8] = {0};

	if (h->ntail > 0) {
		memcpy(last, h->tail, h->ntail);
		absorb(h, le64(last));
	}
	h->h1 ^= h->total;
	h->h2 ^= rotl(h->total, 17);
	h->h1 += h->h2;
	h->h2 += h->h1;
	r.hi = avalanche(h->h1);
	r.lo = avalanche(h->h2 ^ r.hi);
	return r;
}

struct hash128 hash128(const void *p, size_t n, uint64_t seed)
{
	struct hasher h;

	hasher_init(&h, seed);
	hasher_update(&h, p, n);
	return hasher_final(&h);
}

void digest_hex(struct hash128 d, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[16];
	int i;

	digest_put(raw, d);
	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[32] = '\0';
}

void digest_put(uint8_t out[16], struct hash128 d)
{
	be64_put(out, d.hi);
	be64_put(out + 8, d.lo);
}

struct hash128 digest_get(const uint8_t in[16])
{
	struct hash128 d;

	d.hi = be64_get(in);
	d.lo = be64_get(in + 8);
	return d;
}
