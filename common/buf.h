/*
 * Growable byte buffers. A `struct buf` owns `data` (malloc'd); `len` bytes are
 * in use out of `cap`. A zeroed struct is a valid empty buffer.
 */
#ifndef LOGOS_COMMON_BUF_H
#define LOGOS_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);

/* Frees the memory and leaves an empty buffer. */
void buf_release(struct buf *b);

/* Ensures room for `extra` more bytes. ERR_NOMEM on failure (b unchanged). */
int buf_reserve(struct buf *b, size_t extra);

/* Appends `n` bytes. ERR_NOMEM on failure (b unchanged). */
int buf_append(struct buf *b, const void *p, size_t n);

/* Appends big-endian integers (the byte order of every key, so that keys sort
 * numerically). ERR_NOMEM on failure. */
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16be(struct buf *b, uint16_t v);
int buf_put_u32be(struct buf *b, uint32_t v);
int buf_put_u64be(struct buf *b, uint64_t v);

/* Appends zero bytes until len is a multiple of `align` (a power of two). */
int buf_pad(struct buf *b, size_t align);

/* Takes the memory out of `b` (the caller frees it) and leaves `b` empty. */
uint8_t *buf_steal(struct buf *b, size_t *len);

/* Big-endian encode/decode of fixed-size integers into raw memory. */
void be64_put(uint8_t *p, uint64_t v);
uint64_t be64_get(const uint8_t *p);
void be32_put(uint8_t *p, uint32_t v);
uint32_t be32_get(const uint8_t *p);
void be16_put(uint8_t *p, uint16_t v);
uint16_t be16_get(const uint8_t *p);

#endif /* LOGOS_COMMON_BUF_H */
