/*
 * msgpack writer (over msgpack-c) and strict reader of common/pack.h.
 */
#include "config.h"

#include <string.h>

#include "common/error.h"
#include "common/pack.h"

static int packer_write(void *data, const char *p, size_t n)
{
	struct packer *pk = data;

	if (pk->err != 0)
		return -1;
	if (buf_append(pk->out, p, n) != 0) {
		pk->err = ERR_NOMEM;
		return -1;
	}
	return 0;
}

void packer_init(struct packer *p, struct buf *out)
{
	p->out = out;
	p->err = 0;
	msgpack_packer_init(&p->pk, p, packer_write);
}

int pack_uint(struct packer *p, uint64_t v)
{
	msgpack_pack_uint64(&p->pk, v);
	return p->err;
}

int pack_int(struct packer *p, int64_t v)
{
	msgpack_pack_int64(&p->pk, v);
	return p->err;
}

int pack_bool(struct packer *p, bool v)
{
	if (v)
		msgpack_pack_true(&p->pk);
	else
		msgpack_pack_false(&p->pk);
	return p->err;
}

int pack_nil(struct packer *p)
{
	msgpack_pack_nil(&p->pk);
	return p->err;
}

int pack_str(struct packer *p, const char *s, size_t n)
{
	if (n > UINT32_MAX && p->err == 0)
		p->err = ERR_TOOBIG; /* msgpack lengths are 32-bit. */
	if (p->err != 0)
		return p->err;
	msgpack_pack_str(&p->pk, n);
	msgpack_pack_str_body(&p->pk, s, n);
	return p->err;
}

int pack_cstr(struct packer *p, const char *s)
{
	if (s == NULL)
		return pack_nil(p);
	return pack_str(p, s, strlen(s));
}

int pack_bin(struct packer *p, const void *data, size_t n)
{
	if (n > UINT32_MAX && p->err == 0)
		p->err = ERR_TOOBIG;
	if (p->err != 0)
		return p->err;
	msgpack_pack_bin(&p->pk, n);
	msgpack_pack_bin_body(&p->pk, data, n);
	return p->err;
}

int pack_array(struct packer *p, uint32_t n)
{
	msgpack_pack_array(&p->pk, n);
	return p->err;
}

int pack_map(struct packer *p, uint32_t n)
{
	msgpack_pack_map(&p->pk, n);
	return p->err;
}

void unpacker_init(struct unpacker *u, const void *data, size_t len)
{
	u->p = data;
	u->end = u->p + len;
}

/* Reads a big-endian unsigned of `n` bytes at u->p + off, if present. */
static int peek_be(const struct unpacker *u, size_t off, size_t n, uint64_t *v)
{
	size_t i;

	if (unpack_left(u) < off + n)
		return ERR_CORRUPT;
	*v = 0;
	for (i = 0; i < n; i++)
		*v = (*v << 8) | u->p[off + i];
	return 0;
}

/*
 * Decodes the header of the next value: its kind, a scalar or length, and the
 * header's size. Kinds: 'u' unsigned, 'i' negative int, 'b' bool, 'n' nil,
 * 's' str, 'x' bin, 'a' array, 'm' map, 'e' ext (len = payload incl. type),
 * 'f' float (len = payload size).
 */
struct header {
	char kind;
	uint64_t v;   /* Unsigned value, length, count or payload size. */
	int64_t neg;  /* Negative value for 'i'. */
	size_t hsize; /* Bytes of header. */
};

static int read_header(const struct unpacker *u, struct header *h)
{
	uint8_t c;
	uint64_t v;
	int rv = 0;

	if (u->p >= u->end)
		return ERR_CORRUPT;
	c = u->p[0];
	h->hsize = 1;
	h->neg = 0;
	if (c <= 0x7f) {
		h->kind = 'u';
		h->v = c;
	} else if (c >= 0xe0) {
		h->kind = 'i';
		h->neg = (int8_t)c;
	} else if ((c & 0xf0) == 0x80) {
		h->kind = 'm';
		h->v = c & 0x0f;
	} else if ((c & 0xf0) == 0x90) {
		h->kind = 'a';
		h->v = c & 0x0f;
	} else if ((c & 0xe0) == 0xa0) {
		h->kind = 's';
		h->v = c & 0x1f;
	} else {
		switch (c) {
		case 0xc0:
			h->kind = 'n';
			break;
		case 0xc2:
		case 0xc3:
			h->kind = 'b';
			h->v = c == 0xc3;
			break;
		case 0xc4:
		case 0xc5:
		case 0xc6:
			h->kind = 'x';
			h->hsize = 1 + (1u << (c - 0xc4));
			rv = peek_be(u, 1, h->hsize - 1, &h->v);
			break;
		case 0xc7:
		case 0xc8:
		case 0xc9:
			h->kind = 'e';
			h->hsize = 1 + (1u << (c - 0xc7));
			rv = peek_be(u, 1, h->hsize - 1, &h->v);
			h->v += 1; /* The type byte. */
			break;
		case 0xca:
		case 0xcb:
			h->kind = 'f';
			h->v = c == 0xca ? 4 : 8;
			break;
		case 0xcc:
		case 0xcd:
		case 0xce:
		case 0xcf:
			h->kind = 'u';
			h->hsize = 1 + (1u << (c - 0xcc));
			rv = peek_be(u, 1, h->hsize - 1, &h->v);
			break;
		case 0xd0:
		case 0xd1:
		case 0xd2:
		case 0xd3: {
			size_t n = 1u << (c - 0xd0);
			h->hsize = 1 + n;
			rv = peek_be(u, 1, n, &v);
			if (rv != 0)
				break;
			/* Sign-extend an n-byte two's complement value. */
			if (n < 8 && (v >> (8 * n - 1)) & 1)
				v |= ~0ULL << (8 * n);
			if ((int64_t)v >= 0) {
				h->kind = 'u';
				h->v = v;
			} else {
				h->kind = 'i';
				h->neg = (int64_t)v;
			}
			break;
		}
		case 0xd4:
		case 0xd5:
		case 0xd6:
		case 0xd7:
		case 0xd8:
			h->kind = 'e';
			h->v = 1 + (1u << (c - 0xd4));
			break;
		case 0xd9:
		case 0xda:
		case 0xdb:
			h->kind = 's';
			h->hsize = 1 + (1u << (c - 0xd9));
			rv = peek_be(u, 1, h->hsize - 1, &h->v);
			break;
		case 0xdc:
		case 0xdd:
			h->kind = 'a';
			h->hsize = 1 + (2u << (c - 0xdc));
			rv = peek_be(u, 1, h->hsize - 1, &h->v);
			break;
		case 0xde:
		case 0xdf:
			h->kind = 'm';
			h->hsize = 1 + (2u << (c - 0xde));
			rv = peek_be(u, 1, h->hsize - 1, &h->v);
			break;
		default: /* 0xc1 is never used. */
			return ERR_CORRUPT;
		}
	}
	if (rv != 0)
		return rv;
	if (unpack_left(u) < h->hsize)
		return ERR_CORRUPT;
	return 0;
}

int unpack_uint(struct unpacker *u, uint64_t *v)
{
	struct header h;
	int rv = read_header(u, &h);

	if (rv != 0)
		return rv;
	if (h.kind != 'u')
		return ERR_INVALID;
	*v = h.v;
	u->p += h.hsize;
	return 0;
}

int unpack_int(struct unpacker *u, int64_t *v)
{
	struct header h;
	int rv = read_header(u, &h);

	if (rv != 0)
		return rv;
	if (h.kind == 'u' && h.v <= INT64_MAX)
		*v = (int64_t)h.v;
	else if (h.kind == 'i')
		*v = h.neg;
	else
		return ERR_INVALID;
	u->p += h.hsize;
	return 0;
}

int unpack_bool(struct unpacker *u, bool *v)
{
	struct header h;
	int rv = read_header(u, &h);

	if (rv != 0)
		return rv;
	if (h.kind != 'b')
		return ERR_INVALID;
	*v = h.v != 0;
	u->p += h.hsize;
	return 0;
}

int unpack_nil(struct unpacker *u)
{
	struct header h;
	int rv = read_header(u, &h);

	if (rv != 0)
		return rv;
	if (h.kind != 'n')
		return ERR_INVALID;
	u->p += h.hsize;
	return 0;
}

bool unpack_peek_nil(const struct unpacker *u)
{
	return u->p < u->end && u->p[0] == 0xc0;
}

static int unpack_bytes(struct unpacker *u, char kind, const void **data, size_t *n)
{
	struct header h;
	int rv = read_header(u, &h);

	if (rv != 0)
		return rv;
	if (h.kind != kind)
		return ERR_INVALID;
	if (h.v > unpack_left(u) - h.hsize)
		return ERR_CORRUPT;
	*data = u->p + h.hsize;
	*n = (size_t)h.v;
	u->p += h.hsize + h.v;
	return 0;
}

int unpack_str(struct unpacker *u, const char **s, size_t *n)
{
	const void *p;
	int rv = unpack_bytes(u, 's', &p, n);

	if (rv == 0)
		*s = p;
	return rv;
}

int unpack_bin(struct unpacker *u, const void **data, size_t *n)
{
	return unpack_bytes(u, 'x', data, n);
}

static int unpack_container(struct unpacker *u, char kind, uint64_t per, uint32_t *n)
{
	struct header h;
	int rv = read_header(u, &h);

	if (rv != 0)
		return rv;
	if (h.kind != kind)
		return ERR_INVALID;
	if (h.v > UINT32_MAX || h.v * per > unpack_left(u) - h.hsize)
		return ERR_CORRUPT;
	*n = (uint32_t)h.v;
	u->p += h.hsize;
	return 0;
}

int unpack_array(struct unpacker *u, uint32_t *n)
{
	return unpack_container(u, 'a', 1, n);
}

int unpack_map(struct unpacker *u, uint32_t *n)
{
	return unpack_container(u, 'm', 2, n);
}

int unpack_skip(struct unpacker *u)
{
	const uint8_t *start = u->p;
	uint64_t pending = 1; /* Values still to skip. */
	struct header h;
	int rv;

	while (pending > 0) {
		rv = read_header(u, &h);
		if (rv != 0)
			goto undo;
		u->p += h.hsize;
		pending--;
		switch (h.kind) {
		case 's':
		case 'x':
		case 'e':
		case 'f':
			if (h.v > unpack_left(u)) {
				rv = ERR_CORRUPT;
				goto undo;
			}
			u->p += h.v;
			break;
		case 'a':
		case 'm':
			pending += h.kind == 'm' ? 2 * h.v : h.v;
			/* Every pending value takes at least one byte. */
			if (pending > unpack_left(u)) {
				rv = ERR_CORRUPT;
				goto undo;
			}
			break;
		default:
			break;
		}
	}
	return 0;
undo:
	u->p = start;
	return rv;
}
