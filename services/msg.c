/*
 * The message-queue service: the rows of services/msg.h and the transitions
 * msg_send and msg_recv of services/internal.h.
 */
#include "config.h"

#include <string.h>

#include "common/error.h"
#include "common/pack.h"
#include "services/internal.h"
#include "services/msg.h"

int queue_row_encode(const struct queue_row *r, struct buf *out)
{
	struct packer pk;
	size_t mark = out->len;

	packer_init(&pk, out);
	pack_array(&pk, 4);
	pack_uint(&pk, r->head_seq);
	pack_uint(&pk, r->next_seq);
	pack_uint(&pk, r->count);
	if (pack_uint(&pk, r->bytes) != 0) {
		out->len = mark;
		return ERR_NOMEM;
	}
	return 0;
}

int message_row_encode(const struct message_row *r, struct buf *out)
{
	struct packer pk;
	size_t mark = out->len;

	packer_init(&pk, out);
	pack_array(&pk, 3);
	pack_uint(&pk, r->sent_ms);
	pack_uint(&pk, r->origin);
	if (pack_bin(&pk, r->data.p, r->data.n) != 0) {
		out->len = mark;
		return ERR_NOMEM;
	}
	return 0;
}

int queue_row_decode(const void *val, size_t len, struct queue_row *r)
{
	struct unpacker u;
	uint32_t n;

	unpacker_init(&u, val, len);
	if (unpack_array(&u, &n) != 0 || n < 4 || unpack_uint(&u, &r->head_seq) != 0 ||
	    unpack_uint(&u, &r->next_seq) != 0 || unpack_uint(&u, &r->count) != 0 ||
	    unpack_uint(&u, &r->bytes) != 0)
		return ERR_CORRUPT;
	if (r->head_seq > r->next_seq)
		return ERR_CORRUPT;
	return 0;
}

int message_row_decode(const void *val, size_t len, struct message_row *r)
{
	struct unpacker u;
	const void *data;
	uint32_t n;

	unpacker_init(&u, val, len);
	if (unpack_array(&u, &n) != 0 || n < 3 || unpack_uint(&u, &r->sent_ms) != 0 ||
	    unpack_uint(&u, &r->origin) != 0 || unpack_bin(&u, &data, &r->data.n) != 0)
		return ERR_CORRUPT;
	r->data.p = data;
	return 0;
}

size_t message_key_prefix(uint8_t *out, const char *name, size_t n)
{
	out[0] = (uint8_t)n;
	memcpy(out + 1, name, n);
	return 1 + n;
}

size_t message_key(uint8_t *out, const char *name, size_t n, uint64_t seq)
{
	size_t len = message_key_prefix(out, name, n);

	be64_put(out + len, seq);
	return len + 8;
}

int message_key_decode(const void *key, size_t klen, struct strref *name, uint64_t *seq)
{
	const uint8_t *k = key;

	if (klen < 1 + 8 || k[0] == 0 || klen != 1 + (size_t)k[0] + 8)
		return ERR_CORRUPT;
	name->p = (const char *)k + 1;
	name->n = k[0];
	*seq = be64_get(k + 1 + k[0]);
	return 0;
}

/*
 * Adds a put of the row just encoded at the tail of o->result (from `mark`).
 * Rows are encoded there because the outcome's buffers are the only memory a
 * transition may use (STYLE "Services stay pure"); delta_put copies the
 * bytes, and the tail is dropped again before the result is packed.
 */
static int put_encoded(struct outcome *o, int table, const void *key, size_t klen, size_t mark)
{
	int rv =
		delta_put(&o->delta, table, key, klen, o->result.data + mark, o->result.len - mark);

	o->result.len = mark;
	return rv;
}

/* A name the decoder let through is valid; this only guards the key format
 * (one length byte) against a caller that skipped the decoder. */
static bool queue_name_ok(struct strref name)
{
	return name.n >= 1 && name.n <= CMD_QUEUE_MAX;
}

/* Reads the queue row: 0 (found), ERR_NOTFOUND, or an environmental error. */
static int queue_get(const struct view *v, struct strref name, struct queue_row *q)
{
	const void *val;
	size_t vlen;
	int rv;

	rv = v->get(v, TABLE_QUEUES, name.p, name.n, &val, &vlen);
	if (rv != 0)
		return rv;
	return queue_row_decode(val, vlen, q);
}

int msg_send(const struct view *v, const struct cmd *c, struct outcome *o)
{
	const struct cmd_msg_send *s = &c->u.send;
	struct queue_row q = {.head_seq = 1, .next_seq = 1};
	struct message_row m;
	uint8_t key[MESSAGE_KEY_MAX];
	uint64_t seq;
	size_t klen, mark;
	int rv;

	if (!queue_name_ok(s->queue))
		return outcome_reject(o, ERR_INVALID, "invalid queue name '%.*s'", (int)s->queue.n,
				      s->queue.p);
	rv = queue_get(v, s->queue, &q);
	if (rv != 0 && rv != ERR_NOTFOUND)
		return rv;
	/* Absent: the first send creates the queue, numbering from 1. */
	if (q.count >= QUEUE_MESSAGES_MAX)
		return outcome_reject(o, ERR_FULL, "queue '%.*s' is full (%u messages)",
				      (int)s->queue.n, s->queue.p, QUEUE_MESSAGES_MAX);
	if (q.bytes > QUEUE_BYTES_MAX || s->data.n > QUEUE_BYTES_MAX - q.bytes)
		return outcome_reject(o, ERR_FULL,
				      "queue '%.*s' is full (%llu of %u bytes used, the message "
				      "has %zu)",
				      (int)s->queue.n, s->queue.p, (unsigned long long)q.bytes,
				      QUEUE_BYTES_MAX, s->data.n);

	seq = q.next_seq;
	m.sent_ms = c->time_ms;
	m.origin = c->origin;
	m.data = s->data;
	klen = message_key(key, s->queue.p, s->queue.n, seq);
	mark = o->result.len;
	rv = message_row_encode(&m, &o->result);
	if (rv == 0)
		rv = put_encoded(o, TABLE_MESSAGES, key, klen, mark);
	if (rv != 0)
		return rv;

	q.next_seq++;
	q.count++;
	q.bytes += s->data.n;
	rv = queue_row_encode(&q, &o->result);
	if (rv == 0)
		rv = put_encoded(o, TABLE_QUEUES, s->queue.p, s->queue.n, mark);
	if (rv != 0)
		return rv;

	pack_map(&o->pack, 1);
	pack_cstr(&o->pack, "seq");
	return pack_uint(&o->pack, seq);
}

/*
 * Dequeues the oldest message. Exactly-once delivery with an idempotency key
 * (DESIGN §5) comes from the dispatcher: a retried recv returns the stored
 * result, so the result must carry the message itself.
 */
int msg_recv(const struct view *v, const struct cmd *c, struct outcome *o)
{
	const struct cmd_msg_recv *r = &c->u.recv;
	struct queue_row q;
	struct message_row m;
	uint8_t key[MESSAGE_KEY_MAX];
	const void *val;
	size_t klen, vlen, mark;
	int rv;

	if (!queue_name_ok(r->queue))
		return outcome_reject(o, ERR_INVALID, "invalid queue name '%.*s'", (int)r->queue.n,
				      r->queue.p);
	rv = queue_get(v, r->queue, &q);
	if (rv == ERR_NOTFOUND || (rv == 0 && q.count == 0))
		/* The API answers 204 or waits: an unknown queue is just empty. */
		return outcome_reject(o, ERR_NOTFOUND, "queue '%.*s' is empty", (int)r->queue.n,
				      r->queue.p);
	if (rv != 0)
		return rv;

	klen = message_key(key, r->queue.p, r->queue.n, q.head_seq);
	rv = v->get(v, TABLE_MESSAGES, key, klen, &val, &vlen);
	if (rv == ERR_NOTFOUND)
		return ERR_CORRUPT; /* count > 0 promises the head message */
	if (rv != 0)
		return rv;
	rv = message_row_decode(val, vlen, &m);
	if (rv != 0)
		return rv;
	if (q.next_seq - q.head_seq < q.count || q.bytes < m.data.n)
		return ERR_CORRUPT;

	rv = delta_del(&o->delta, TABLE_MESSAGES, key, klen);
	if (rv != 0)
		return rv;
	q.head_seq++;
	q.count--;
	q.bytes -= m.data.n;
	mark = o->result.len;
	rv = queue_row_encode(&q, &o->result);
	if (rv == 0)
		rv = put_encoded(o, TABLE_QUEUES, r->queue.p, r->queue.n, mark);
	if (rv != 0)
		return rv;

	pack_map(&o->pack, 2);
	pack_cstr(&o->pack, "seq");
	pack_uint(&o->pack, q.head_seq - 1);
	pack_cstr(&o->pack, "data");
	return pack_bin(&o->pack, m.data.p, m.data.n);
}
