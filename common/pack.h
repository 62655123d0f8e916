/*
 * msgpack helpers. Writing goes through msgpack-c's packer into a `struct buf`.
 * Reading uses our own strict, allocation-free cursor: every length is checked
 * against the bytes that remain before anything is trusted, so no input can make
 * it read out of bounds or allocate. Strings and binaries returned by the reader
 * point into the input and are valid as long as the input is.
 */
#ifndef LOGOS_COMMON_PACK_H
#define LOGOS_COMMON_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "common/buf.h"

struct packer {
	msgpack_packer pk;
	struct buf *out;
	int err; /* First error (ERR_NOMEM, or ERR_TOOBIG for a str or bin over
		  * 4 GiB); once set every call is a no-op. */
};

/* Appends to `out` (borrowed; must outlive the packer). */
void packer_init(struct packer *p, struct buf *out);

/* Each returns the packer's sticky error: 0, ERR_NOMEM or ERR_TOOBIG. */
int pack_uint(struct packer *p, uint64_t v);
int pack_int(struct packer *p, int64_t v);
int pack_bool(struct packer *p, bool v);
int pack_nil(struct packer *p);
int pack_str(struct packer *p, const char *s, size_t n);
int pack_cstr(struct packer *p, const char *s); /* NULL packs nil */
int pack_bin(struct packer *p, const void *data, size_t n);
int pack_array(struct packer *p, uint32_t n);
int pack_map(struct packer *p, uint32_t n);

struct unpacker {
	const uint8_t *p;
	const uint8_t *end;
};

void unpacker_init(struct unpacker *u, const void *data, size_t len);

/* Bytes not yet read. */
static inline size_t unpack_left(const struct unpacker *u)
{
	return (size_t)(u->end - u->p);
}

/*
 * Each reader consumes one value of the named type and returns 0, ERR_CORRUPT
 * if the input ends early, or ERR_INVALID if the next value has another type
 * (or an integer out of range). On error the cursor does not move.
 */
int unpack_uint(struct unpacker *u, uint64_t *v);
int unpack_int(struct unpacker *u, int64_t *v);
int unpack_bool(struct unpacker *u, bool *v);
int unpack_nil(struct unpacker *u);
int unpack_str(struct unpacker *u, const char **s, size_t *n);
int unpack_bin(struct unpacker *u, const void **data, size_t *n);
/* Array and map headers; the count is checked against the bytes left (every
 * element takes at least one byte). */
int unpack_array(struct unpacker *u, uint32_t *n);
int unpack_map(struct unpacker *u, uint32_t *n);

/* True if the next value is nil (nothing consumed). */
bool unpack_peek_nil(const struct unpacker *u);

/* Skips one value of any type, however nested, without recursion. */
int unpack_skip(struct unpacker *u);

#endif /* LOGOS_COMMON_PACK_H */
