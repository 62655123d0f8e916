/*
 * The common machinery of services/service.h: deltas, effects, outcomes,
 * counters, idempotency keys, and the dispatch of a command to its service.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/hash.h"
#include "services/internal.h"

int delta_put(struct delta *d, int table, const void *key, size_t klen, const void *val,
	      size_t vlen)
{
	size_t mark = d->ops.len;

	if (buf_put_u8(&d->ops, DELTA_PUT) != 0 || buf_put_u8(&d->ops, (uint8_t)table) != 0 ||
	    buf_put_u32be(&d->ops, (uint32_t)klen) != 0 || buf_append(&d->ops, key, klen) != 0 ||
	    buf_put_u32be(&d->ops, (uint32_t)vlen) != 0 || buf_append(&d->ops, val, vlen) != 0) {
		d->ops.len = mark;
		return ERR_NOMEM;
	}
	d->count++;
	return 0;
}

int delta_del(struct delta *d, int table, const void *key, size_t klen)
{
	size_t mark = d->ops.len;

	if (buf_put_u8(&d->ops, DELTA_DEL) != 0 || buf_put_u8(&d->ops, (uint8_t)table) != 0 ||
	    buf_put_u32be(&d->ops, (uint32_t)klen) != 0 || buf_append(&d->ops, key, klen) != 0) {
		d->ops.len = mark;
		return ERR_NOMEM;
	}
	d->count++;
	return 0;
}

static int delta_target(struct delta *d, int kind, uint64_t target)
{
	size_t mark = d->ops.len;

	if (buf_put_u8(&d->ops, (uint8_t)kind) != 0 || buf_put_u64be(&d->ops, target) != 0) {
		d->ops.len = mark;
		return ERR_NOMEM;
	}
	d->count++;
	return 0;
}

int delta_rewind(struct delta *d, uint64_t target)
{
	return delta_target(d, DELTA_REWIND, target);
}

int delta_compact(struct delta *d, uint64_t target)
{
	return delta_target(d, DELTA_COMPACT, target);
}

int delta_next(const struct delta *d, size_t *pos, struct delta_op *op)
{
	const uint8_t *p = d->ops.data + *pos;

	if (*pos >= d->ops.len)
		return ERR_NOTFOUND;
	memset(op, 0, sizeof *op);
	op->kind = p[0];
	if (op->kind == DELTA_REWIND || op->kind == DELTA_COMPACT) {
		op->target = be64_get(p + 1);
		*pos += 9;
		return 0;
	}
	op->table = p[1];
	op->klen = be32_get(p + 2);
	op->key = p + 6;
	p += 6 + op->klen;
	if (op->kind == DELTA_PUT) {
		op->vlen = be32_get(p);
		op->val = p + 4;
		p += 4 + op->vlen;
	}
	*pos = (size_t)(p - d->ops.data);
	return 0;
}

int effects_add(struct effects *e, uint64_t node, int kind, uint64_t pid, uint32_t attempt,
		int signal)
{
	struct effect ef;

	memset(&ef, 0, sizeof ef);
	ef.node = node;
	ef.kind = kind;
	ef.pid = pid;
	ef.attempt = attempt;
	ef.signal = signal;
	return buf_append(&e->buf, &ef, sizeof ef);
}

void outcome_init(struct outcome *o)
{
	memset(o, 0, sizeof *o);
	buf_init(&o->delta.ops);
	buf_init(&o->effects.buf);
	buf_init(&o->result);
	buf_init(&o->scratch);
	buf_init(&o->nodes);
	packer_init(&o->pack, &o->result);
}

void outcome_reset(struct outcome *o)
{
	o->delta.ops.len = 0;
	o->delta.count = 0;
	o->effects.buf.len = 0;
	o->result.len = 0;
	o->pack.err = 0;
	o->code = 0;
	o->message[0] = '\0';
}

void outcome_release(struct outcome *o)
{
	buf_release(&o->delta.ops);
	buf_release(&o->effects.buf);
	buf_release(&o->result);
	buf_release(&o->scratch);
	buf_release(&o->nodes);
}

int outcome_reject(struct outcome *o, int code, const char *fmt, ...)
{
	va_list ap;

	outcome_reset(o);
	o->code = code;
	va_start(ap, fmt);
	vsnprintf(o->message, sizeof o->message, fmt, ap);
	va_end(ap);
	return 0;
}

int service_counter(const struct view *v, const char *name, uint64_t *value)
{
	const void *val;
	size_t vlen;
	int rv;

	rv = v->get(v, TABLE_COUNTERS, name, strlen(name), &val, &vlen);
	if (rv == ERR_NOTFOUND) {
		*value = 0;
		return 0;
	}
	if (rv != 0)
		return rv;
	if (vlen != 8)
		return ERR_CORRUPT;
	*value = be64_get(val);
	return 0;
}

int service_counter_put(struct outcome *o, const char *name, uint64_t value)
{
	uint8_t b[8];

	be64_put(b, value);
	return delta_put(&o->delta, TABLE_COUNTERS, name, strlen(name), b, sizeof b);
}

static int noop(const struct view *v, const struct cmd *c, struct outcome *o)
{
	return 0;
}

static const transition_fn transitions[CMD_TYPE_COUNT] = {
	[CMD_PROC_SUBMIT] = proc_submit, [CMD_PROC_STARTED] = proc_started,
	[CMD_PROC_OUTPUT] = proc_output, [CMD_PROC_EXITED] = proc_exited,
	[CMD_PROC_KILL] = proc_kill,     [CMD_PROC_LOST] = proc_lost,
	[CMD_STEP_RECORD] = step_record, [CMD_MSG_SEND] = msg_send,
	[CMD_MSG_RECV] = msg_recv,       [CMD_FILE_PUT] = file_put,
	[CMD_FILE_DEL] = file_del,       [CMD_NODE_JOIN] = node_join,
	[CMD_NODE_REMOVE] = node_remove, [CMD_NODE_DRAIN] = node_drain,
	[CMD_NODE_DOWN] = node_down,     [CMD_NODE_UP] = node_up,
	[CMD_NODE_ROLE] = node_role,     [CMD_REWIND] = history_rewind,
	[CMD_COMPACT] = history_compact, [CMD_NOOP] = noop,
};

/*
 * Idempotency records (TABLE_IDEM): key [type][idempotency key] → msgpack
 * [index, body hash (bin 16), code, message, result (bin)]. The body hash tells
 * a retry (same request) from a reuse of the key for another request.
 */
static size_t idem_key(uint8_t *out, const struct cmd *c)
{
	out[0] = (uint8_t)c->type;
	memcpy(out + 1, c->key.p, c->key.n);
	return 1 + c->key.n;
}

static int idem_lookup(const struct view *v, const struct cmd *c, struct outcome *o, bool *hit)
{
	uint8_t key[1 + CMD_KEY_MAX], h[16];
	struct unpacker u;
	const void *val, *hash, *result;
	const char *msg;
	size_t vlen, hlen, mlen, rlen;
	uint64_t index;
	int64_t code;
	uint32_t n;
	int rv;

	*hit = false;
	rv = v->get(v, TABLE_IDEM, key, idem_key(key, c), &val, &vlen);
	if (rv == ERR_NOTFOUND)
		return 0;
	if (rv != 0)
		return rv;
	unpacker_init(&u, val, vlen);
	if (unpack_array(&u, &n) != 0 || n < 5 || unpack_uint(&u, &index) != 0 ||
	    unpack_bin(&u, &hash, &hlen) != 0 || hlen != 16 || unpack_int(&u, &code) != 0 ||
	    unpack_str(&u, &msg, &mlen) != 0 || unpack_bin(&u, &result, &rlen) != 0)
		return ERR_CORRUPT;
	*hit = true;
	digest_put(h, hash128(c->body.p, c->body.n, c->type));
	if (memcmp(h, hash, 16) != 0)
		return outcome_reject(o, ERR_CONFLICT,
				      "idempotency key '%.*s' was used for a different request at "
				      "index %llu",
				      (int)c->key.n, c->key.p, (unsigned long long)index);
	outcome_reset(o);
	o->code = (int)code;
	snprintf(o->message, sizeof o->message, "%.*s", (int)mlen, msg);
	if (buf_append(&o->result, result, rlen) != 0)
		return ERR_NOMEM;
	return 0;
}

static int idem_record(const struct view *v, const struct cmd *c, struct outcome *o)
{
	uint8_t key[1 + CMD_KEY_MAX], h[16];
	struct buf *rec = &o->scratch;
	struct packer pk;
	int rv;

	rec->len = 0;
	packer_init(&pk, rec);
	digest_put(h, hash128(c->body.p, c->body.n, c->type));
	pack_array(&pk, 5);
	pack_uint(&pk, v->index);
	pack_bin(&pk, h, sizeof h);
	pack_int(&pk, o->code);
	pack_cstr(&pk, o->message);
	rv = pack_bin(&pk, o->result.data, o->result.len);
	if (rv == 0)
		rv = delta_put(&o->delta, TABLE_IDEM, key, idem_key(key, c), rec->data, rec->len);
	return rv;
}

int service_apply(const struct view *v, const struct cmd *c, struct outcome *o)
{
	bool hit = false;
	int rv;

	outcome_reset(o);
	if (c->type == 0 || c->type >= CMD_TYPE_COUNT || transitions[c->type] == NULL)
		return outcome_reject(o, ERR_INVALID, "unknown command type %u", c->type);
	if (c->key.p != NULL) {
		rv = idem_lookup(v, c, o, &hit);
		if (rv != 0 || hit)
			return rv;
	}
	rv = transitions[c->type](v, c, o);
	if (rv != 0)
		return rv;
	if (o->pack.err != 0)
		return o->pack.err;
	if (o->code == 0 && c->key.p != NULL)
		return idem_record(v, c, o);
	return 0;
}
