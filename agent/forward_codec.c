/*
 * The wire format of forwarded batches, agent/forward.h.
 */
#include "config.h"

#include <string.h>

#include "agent/forward.h"
#include "common/error.h"
#include "services/command.h"

#define RESULT_FIXED_LEN (4u + 8u + 8u + 4u + 4u + 2u)

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

int forward_begin(struct buf *b)
{
	uint8_t head[FORWARD_HEAD_LEN] = {0};

	return buf_append(b, head, sizeof head);
}

/* The count at the start of the body written since forward_begin. */
static void count_one(struct buf *b)
{
	put32(b->data, get32(b->data) + 1);
}

int forward_add_cmd(struct buf *b, const void *cmd, size_t len)
{
	uint8_t head[FORWARD_ITEM_LEN];

	if (len == 0 || len > UINT32_MAX)
		return ERR_INVALID;
	put32(head, (uint32_t)len);
	if (buf_append(b, head, sizeof head) != 0 || buf_append(b, cmd, len) != 0)
		return ERR_NOMEM;
	count_one(b);
	return 0;
}

int forward_put_result(struct buf *b, const struct agent_result *r)
{
	uint8_t fixed[20], n[4], ln[2];
	size_t mlen = r->message != NULL ? r->message_len : 0;
	size_t rlen = r->result != NULL ? r->result_len : 0;
	size_t llen = r->leader_http != NULL ? strlen(r->leader_http) + 1 : 0;

	if (mlen > UINT32_MAX || rlen > UINT32_MAX || llen > UINT16_MAX)
		return ERR_INVALID;
	put32(fixed, (uint32_t)r->status);
	put64(fixed + 4, r->index);
	put64(fixed + 12, (uint64_t)r->code);
	if (buf_append(b, fixed, sizeof fixed) != 0)
		return ERR_NOMEM;
	put32(n, (uint32_t)mlen);
	if (buf_append(b, n, sizeof n) != 0 || buf_append(b, r->message, mlen) != 0)
		return ERR_NOMEM;
	put32(n, (uint32_t)rlen);
	if (buf_append(b, n, sizeof n) != 0 || buf_append(b, r->result, rlen) != 0)
		return ERR_NOMEM;
	ln[0] = (uint8_t)(llen >> 8);
	ln[1] = (uint8_t)llen;
	if (buf_append(b, ln, sizeof ln) != 0 || buf_append(b, r->leader_http, llen) != 0)
		return ERR_NOMEM;
	return 0;
}

int forward_add_result(struct buf *b, const struct agent_result *r)
{
	int rv = forward_put_result(b, r);

	if (rv == 0)
		count_one(b);
	return rv;
}

void forward_set_count(struct buf *b, uint32_t n)
{
	put32(b->data, n);
}

static void reader_init(struct forward_reader *rd, const void *body, size_t len)
{
	rd->p = body;
	rd->left = len;
	rd->n = rd->i = 0;
}

int forward_cmds_open(struct forward_reader *rd, const void *body, size_t len, char *err,
		      size_t errlen)
{
	const uint8_t *p = body;
	size_t left = len;
	uint32_t n, i, l;

	if (len < FORWARD_HEAD_LEN)
		return err_set(err, errlen, ERR_INVALID,
			       "batch of %zu bytes is shorter than its count (4 bytes)", len);
	n = get32(p);
	if (n == 0 || n > CMD_BATCH_MAX)
		return err_set(err, errlen, ERR_INVALID, "batch count %u is not within 1..%u",
			       (unsigned)n, CMD_BATCH_MAX);
	p += FORWARD_HEAD_LEN;
	left -= FORWARD_HEAD_LEN;
	for (i = 0; i < n; i++) {
		if (left < FORWARD_ITEM_LEN)
			return err_set(err, errlen, ERR_INVALID,
				       "batch ends before the length of command %u of %u",
				       (unsigned)i + 1, (unsigned)n);
		l = get32(p);
		p += FORWARD_ITEM_LEN;
		left -= FORWARD_ITEM_LEN;
		if (l == 0 || l > left)
			return err_set(err, errlen, ERR_INVALID,
				       "command %u of %u has length %u, %zu bytes remain",
				       (unsigned)i + 1, (unsigned)n, (unsigned)l, left);
		p += l;
		left -= l;
	}
	if (left != 0)
		return err_set(err, errlen, ERR_INVALID, "%zu bytes follow the last of %u commands",
			       left, (unsigned)n);
	reader_init(rd, body, len);
	rd->n = n;
	rd->p += FORWARD_HEAD_LEN;
	rd->left -= FORWARD_HEAD_LEN;
	return 0;
}

int forward_cmds_next(struct forward_reader *rd, const void **cmd, size_t *len)
{
	uint32_t l;

	if (rd->i == rd->n)
		return ERR_NOTFOUND;
	l = get32(rd->p);
	*cmd = rd->p + FORWARD_ITEM_LEN;
	*len = l;
	rd->p += FORWARD_ITEM_LEN + l;
	rd->left -= FORWARD_ITEM_LEN + l;
	rd->i++;
	return 0;
}

/* One result at rd->p, checked: its size, or 0 (and err) if it does not fit
 * what remains. */
static size_t result_size(const uint8_t *p, size_t left, uint32_t i, char *err, size_t errlen)
{
	size_t size = RESULT_FIXED_LEN, l;

	if (left < RESULT_FIXED_LEN) {
		err_set(err, errlen, ERR_CORRUPT, "result %u is cut short", (unsigned)i + 1);
		return 0;
	}
	l = get32(p + 20);
	if (l > left - size) {
		err_set(err, errlen, ERR_CORRUPT, "result %u: message of %zu bytes is cut short",
			(unsigned)i + 1, l);
		return 0;
	}
	size += l;
	l = get32(p + 24 + (size - RESULT_FIXED_LEN));
	if (l > left - size) {
		err_set(err, errlen, ERR_CORRUPT, "result %u: result of %zu bytes is cut short",
			(unsigned)i + 1, l);
		return 0;
	}
	size += l;
	l = (size_t)p[size - 2] << 8 | p[size - 1];
	if (l > left - size) {
		err_set(err, errlen, ERR_CORRUPT, "result %u: leader of %zu bytes is cut short",
			(unsigned)i + 1, l);
		return 0;
	}
	if (l > 0 && (p[size + l - 1] != '\0' || memchr(p + size, '\0', l - 1) != NULL)) {
		err_set(err, errlen, ERR_CORRUPT, "result %u: the leader is not one string",
			(unsigned)i + 1);
		return 0;
	}
	return size + l;
}

int forward_results_open(struct forward_reader *rd, const void *body, size_t len, uint32_t expect,
			 char *err, size_t errlen)
{
	const uint8_t *p = body;
	size_t left = len, size;
	uint32_t n, i;

	if (len < FORWARD_HEAD_LEN)
		return err_set(err, errlen, ERR_CORRUPT,
			       "results of %zu bytes are shorter than their count", len);
	n = get32(p);
	if (n != expect)
		return err_set(err, errlen, ERR_CORRUPT, "%u results for %u commands", (unsigned)n,
			       (unsigned)expect);
	p += FORWARD_HEAD_LEN;
	left -= FORWARD_HEAD_LEN;
	for (i = 0; i < n; i++) {
		size = result_size(p, left, i, err, errlen);
		if (size == 0)
			return ERR_CORRUPT;
		p += size;
		left -= size;
	}
	if (left != 0)
		return err_set(err, errlen, ERR_CORRUPT, "%zu bytes follow the last of %u results",
			       left, (unsigned)n);
	reader_init(rd, body, len);
	rd->n = n;
	rd->p += FORWARD_HEAD_LEN;
	rd->left -= FORWARD_HEAD_LEN;
	return 0;
}

int forward_results_next(struct forward_reader *rd, struct agent_result *r)
{
	const uint8_t *p = rd->p;
	size_t l;

	if (rd->i == rd->n)
		return ERR_NOTFOUND;
	memset(r, 0, sizeof *r);
	r->status = (int)(int32_t)get32(p);
	r->index = get64(p + 4);
	r->code = (int64_t)get64(p + 12);
	l = get32(p + 20);
	r->message = (const char *)p + 24; /* also when empty, as before */
	r->message_len = l;
	p += 24 + l;
	l = get32(p);
	r->result = p + 4;
	r->result_len = l;
	p += 4 + l;
	l = (size_t)p[0] << 8 | p[1];
	r->leader_http = l > 0 ? (const char *)p + 2 : NULL;
	p += 2 + l;
	rd->left -= (size_t)(p - rd->p);
	rd->p = p;
	rd->i++;
	return 0;
}
