/*
 * The apply loop of statestore/apply.h.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "statestore/apply.h"
#include "statestore/internal.h"

/* Where the effects and counts of one entry of the open group begin. */
struct mark {
	uint64_t index;
	size_t effects; /* offset into a->effects */
	uint64_t commands;
	uint64_t rejected;
};

static int view_get(const struct view *v, int table, const void *key, size_t klen, const void **val,
		    size_t *vlen)
{
	return store_get(v->data, table, key, klen, STORE_AT_LATEST, val, vlen);
}

static int view_scan(const struct view *v, int table, const void *prefix, size_t plen,
		     view_row_cb cb, void *arg)
{
	struct store_iter it;
	const void *k, *val;
	size_t kl, vl;
	int rv;

	rv = store_iter_init(&it, v->data, table, prefix, plen, STORE_AT_LATEST);
	if (rv != 0)
		return rv;
	while ((rv = store_iter_next(&it, &k, &kl, &val, &vl)) == 0) {
		rv = cb(arg, k, kl, val, vl);
		if (rv != 0)
			break;
	}
	store_iter_close(&it);
	if (rv == 1 || rv == ERR_NOTFOUND)
		return 0;
	return rv;
}

static void row_key(uint8_t out[12], uint64_t index, uint32_t pos)
{
	be64_put(out, index);
	be32_put(out + 8, pos);
}

/* A short human description of a command for the audit log. */
static void summarize(const struct cmd *c, char *out, size_t n)
{
	const char *name = cmd_type_name(c->type);

	switch (c->type) {
	case CMD_PROC_SUBMIT:
		snprintf(out, n, "%s %u args%s%.*s", name, c->u.submit.argv.count,
			 c->u.submit.placement == PLACE_NODE ? " on " : "", (int)c->u.submit.node.n,
			 c->u.submit.node.p ? c->u.submit.node.p : "");
		break;
	case CMD_PROC_STARTED:
		snprintf(out, n, "%s pid=%llu attempt=%u", name,
			 (unsigned long long)c->u.started.pid, c->u.started.attempt);
		break;
	case CMD_PROC_EXITED:
		snprintf(out, n, "%s pid=%llu attempt=%u code=%d signal=%d", name,
			 (unsigned long long)c->u.exited.pid, c->u.exited.attempt,
			 c->u.exited.exit_code, c->u.exited.signal);
		break;
	case CMD_PROC_LOST:
		snprintf(out, n, "%s pid=%llu attempt=%u", name, (unsigned long long)c->u.lost.pid,
			 c->u.lost.attempt);
		break;
	case CMD_PROC_OUTPUT:
		snprintf(out, n, "%s pid=%llu attempt=%u %zu bytes", name,
			 (unsigned long long)c->u.output.pid, c->u.output.attempt,
			 c->u.output.data.n);
		break;
	case CMD_PROC_KILL:
		snprintf(out, n, "%s pid=%llu signal=%d", name, (unsigned long long)c->u.kill.pid,
			 c->u.kill.signal);
		break;
	case CMD_STEP_RECORD:
		snprintf(out, n, "%s pid=%llu %.*s", name, (unsigned long long)c->u.step.pid,
			 (int)c->u.step.name.n, c->u.step.name.p);
		break;
	case CMD_MSG_SEND:
		snprintf(out, n, "%s %.*s %zu bytes", name, (int)c->u.send.queue.n,
			 c->u.send.queue.p, c->u.send.data.n);
		break;
	case CMD_MSG_RECV:
		snprintf(out, n, "%s %.*s", name, (int)c->u.recv.queue.n, c->u.recv.queue.p);
		break;
	case CMD_FILE_PUT:
		snprintf(out, n, "%s %.*s %zu bytes", name, (int)c->u.put.path.n, c->u.put.path.p,
			 c->u.put.data.n);
		break;
	case CMD_FILE_DEL:
		snprintf(out, n, "%s %.*s", name, (int)c->u.del.path.n, c->u.del.path.p);
		break;
	case CMD_NODE_JOIN:
		snprintf(out, n, "%s %.*s", name, (int)c->u.join.name.n, c->u.join.name.p);
		break;
	case CMD_NODE_REMOVE:
	case CMD_NODE_DRAIN:
	case CMD_NODE_DOWN:
	case CMD_NODE_UP:
		snprintf(out, n, "%s node=%llu", name, (unsigned long long)c->u.node.node);
		break;
	case CMD_NODE_ROLE:
		snprintf(out, n, "%s node=%llu role=%d", name, (unsigned long long)c->u.role.node,
			 c->u.role.role);
		break;
	case CMD_REWIND:
	case CMD_COMPACT:
		snprintf(out, n, "%s %llu", name, (unsigned long long)c->u.history.target);
		break;
	default:
		snprintf(out, n, "%s", name != NULL ? name : "unknown");
		break;
	}
}

static int write_records(struct store_txn *t, struct applier *a, uint32_t pos, const struct cmd *c,
			 const struct outcome *o, const char *summary)
{
	struct buf *b = &a->scratch;
	struct packer pk;
	uint8_t key[12];
	int rv;

	row_key(key, t->index, pos);
	b->len = 0;
	packer_init(&pk, b);
	pack_array(&pk, 5);
	pack_uint(&pk, c->origin);
	pack_uint(&pk, c->request_id);
	pack_int(&pk, o->code);
	pack_cstr(&pk, o->message);
	rv = pack_bin(&pk, o->result.data, o->result.len);
	if (rv == 0)
		rv = store_put(t, STORE_RESULTS, key, sizeof key, b->data, b->len);
	if (rv != 0)
		return rv;

	b->len = 0;
	packer_init(&pk, b);
	pack_array(&pk, 7);
	pack_uint(&pk, c->term);
	pack_uint(&pk, c->time_ms);
	pack_uint(&pk, c->origin);
	pack_str(&pk, c->principal.p != NULL ? c->principal.p : "", c->principal.n);
	pack_uint(&pk, c->type);
	pack_int(&pk, o->code);
	rv = pack_cstr(&pk, summary);
	if (rv == 0)
		rv = store_put(t, STORE_LOG, key, sizeof key, b->data, b->len);
	return rv;
}

/* Checks that every op of a delta can be stored, so that a service's bug
 * becomes a rejection instead of a half-applied command. */
static int delta_check(const struct delta *d, char *msg, size_t n)
{
	struct delta_op op;
	size_t pos = 0;

	while (delta_next(d, &pos, &op) == 0) {
		if (op.kind != DELTA_PUT && op.kind != DELTA_DEL)
			continue;
		if (op.table < 0 || op.table >= STORE_N_TABLES || op.klen == 0 ||
		    op.klen > STORE_KEY_MAX)
			return err_set(msg, n, ERR_INTERNAL,
				       "service wrote an invalid row (table %d, key of %zu bytes)",
				       op.table, op.klen);
	}
	return 0;
}

static int delta_apply(struct store_txn *t, struct applier *a, const struct delta *d)
{
	struct delta_op op;
	size_t pos = 0;
	int rv = 0;

	while (rv == 0 && delta_next(d, &pos, &op) == 0) {
		switch (op.kind) {
		case DELTA_PUT:
			rv = store_put(t, op.table, op.key, op.klen, op.val, op.vlen);
			break;
		case DELTA_DEL:
			rv = store_del(t, op.table, op.key, op.klen);
			break;
		case DELTA_REWIND:
			rv = store_rewind(t, op.target);
			if (rv == 0)
				a->rewinds++;
			break;
		case DELTA_COMPACT:
			rv = store_compact(t, op.target);
			break;
		default:
			rv = ERR_INTERNAL;
			break;
		}
	}
	return rv;
}

static int apply_command(struct store_txn *t, struct applier *a, uint32_t pos, const void *bytes,
			 size_t len, const struct view *v)
{
	struct outcome *o = &a->outcome;
	char summary[160];
	struct cmd c;
	int rv;

	outcome_reset(o);
	rv = cmd_decode(bytes, len, &c, o->message, sizeof o->message);
	if (rv != 0) {
		/* A malformed command is rejected alone (DESIGN §2). */
		memset(&c, 0, sizeof c);
		o->code = rv;
		snprintf(summary, sizeof summary, "invalid command (%zu bytes)", len);
		a->rejected++;
		return write_records(t, a, pos, &c, o, summary);
	}
	rv = service_apply(v, &c, o);
	if (rv != 0)
		return rv; /* Environmental: the entry is not applied. */
	if (o->code == 0 && delta_check(&o->delta, o->message, sizeof o->message) != 0) {
		char msg[OUTCOME_MESSAGE_MAX];
		snprintf(msg, sizeof msg, "%s", o->message);
		outcome_reject(o, ERR_INTERNAL, "%s", msg);
	}
	if (o->code == 0) {
		rv = delta_apply(t, a, &o->delta);
		if (rv != 0)
			return rv;
		if (buf_append(&a->effects, o->effects.buf.data, o->effects.buf.len) != 0)
			return ERR_NOMEM;
	} else {
		a->rejected++;
	}
	summarize(&c, summary, sizeof summary);
	return write_records(t, a, pos, &c, o, summary);
}

/*
 * Notes where the effects and counts of the entry at `index` begin. An entry
 * runs again, with the rest of its group in order, after the map grows: then
 * what it and the entries after it did the first time is forgotten.
 */
static int mark_entry(struct applier *a, uint64_t index)
{
	struct mark m;

	while (a->marks.len >= sizeof m) {
		memcpy(&m, a->marks.data + a->marks.len - sizeof m, sizeof m);
		if (m.index < index)
			break;
		a->marks.len -= sizeof m;
		a->effects.len = m.effects;
		a->commands = m.commands;
		a->rejected = m.rejected;
	}
	m.index = index;
	m.effects = a->effects.len;
	m.commands = a->commands;
	m.rejected = a->rejected;
	return buf_append(&a->marks, &m, sizeof m) == 0 ? 0 : ERR_NOMEM;
}

static int apply_entry(struct store_txn *t, const void *entry, size_t elen, void *arg)
{
	struct applier *a = arg;
	struct entry_reader r;
	struct view v;
	const void *cmd;
	size_t len;
	uint32_t pos = 0;
	int rv;

	rv = mark_entry(a, t->index);
	if (rv != 0)
		return rv;
	memset(&v, 0, sizeof v);
	v.data = t;
	v.get = view_get;
	v.scan = view_scan;
	v.index = t->index;
	v.oldest = t->oldest;

	outcome_reset(&a->outcome);
	rv = entry_open(&r, entry, elen, a->outcome.message, sizeof a->outcome.message);
	if (rv != 0) {
		struct cmd c;
		memset(&c, 0, sizeof c);
		a->outcome.code = rv;
		a->rejected++;
		return write_records(t, a, 0, &c, &a->outcome, "invalid entry");
	}
	while ((rv = entry_next(&r, &cmd, &len)) == 0) {
		/* A compact earlier in the entry moved the oldest readable index:
		 * a service must see it, or a rewind below it would fail the
		 * entry instead of being rejected (DESIGN §2). */
		v.oldest = t->oldest;
		rv = apply_command(t, a, pos++, cmd, len, &v);
		if (rv != 0)
			return rv;
		a->commands++;
	}
	return rv == ERR_NOTFOUND ? 0 : rv;
}

/* Forgets the effects and marks of the open group (committed or dropped). */
static void pending_clear(struct applier *a)
{
	a->effects.len = 0;
	a->marks.len = 0;
}

int applier_apply_deferred(struct applier *a, uint64_t index, const void *entry, size_t len)
{
	int rv;

	rv = store_group_apply(a->store, index, apply_entry, entry, len, a);
	if (rv != 0)
		pending_clear(a); /* The store dropped the whole group. */
	return rv;
}

int applier_flush(struct applier *a)
{
	const struct effect *e;
	struct mark m, next;
	size_t at, end;
	int rv;

	rv = store_group_commit(a->store);
	if (rv != 0) {
		pending_clear(a);
		return rv;
	}
	/* Committed: now the effects may be acted upon (DESIGN §2). */
	for (at = 0; a->on_effect != NULL && at < a->marks.len; at += sizeof m) {
		memcpy(&m, a->marks.data + at, sizeof m);
		end = a->effects.len;
		if (at + sizeof m < a->marks.len) {
			memcpy(&next, a->marks.data + at + sizeof m, sizeof next);
			end = next.effects;
		}
		for (; m.effects < end; m.effects += sizeof *e) {
			e = (const struct effect *)(const void *)(a->effects.data + m.effects);
			a->on_effect(a->arg, m.index, e);
		}
	}
	pending_clear(a);
	return 0;
}

int applier_apply(struct applier *a, uint64_t index, const void *entry, size_t len)
{
	int rv;

	rv = applier_flush(a);
	if (rv == 0)
		rv = applier_apply_deferred(a, index, entry, len);
	if (rv == 0)
		rv = applier_flush(a);
	return rv;
}

static int sm_apply(struct sm *sm, uint64_t index, const void *buf, size_t len)
{
	return applier_apply(sm->data, index, buf, len);
}

static int sm_apply_deferred(struct sm *sm, uint64_t index, const void *buf, size_t len)
{
	return applier_apply_deferred(sm->data, index, buf, len);
}

static int sm_flush(struct sm *sm)
{
	return applier_flush(sm->data);
}

static int sm_snapshot(struct sm *sm, struct buf *out)
{
	struct applier *a = sm->data;
	int rv;

	rv = applier_flush(a);
	return rv != 0 ? rv : store_snapshot(a->store, out);
}

static int sm_snapshot_begin(struct sm *sm, struct sm_snapshot **snap)
{
	struct applier *a = sm->data;
	int rv;

	rv = applier_flush(a);
	return rv != 0 ? rv : store_snapshot_begin(a->store, (struct store_snapshot **)snap);
}

static int sm_restore(struct sm *sm, const void *buf, size_t len)
{
	struct applier *a = sm->data;
	int rv;

	rv = applier_flush(a);
	return rv != 0 ? rv : store_restore(a->store, buf, len);
}

static uint64_t sm_applied_index(struct sm *sm)
{
	struct applier *a = sm->data;

	return store_applied_index(a->store);
}

static const char *sm_errmsg(struct sm *sm)
{
	struct applier *a = sm->data;

	return a->store->errmsg;
}

void applier_init(struct applier *a, struct store *s, struct sm *sm, applier_effect_cb cb,
		  void *arg)
{
	memset(a, 0, sizeof *a);
	a->store = s;
	outcome_init(&a->outcome);
	buf_init(&a->effects);
	buf_init(&a->marks);
	buf_init(&a->scratch);
	a->on_effect = cb;
	a->arg = arg;
	sm->data = a;
	sm->apply = sm_apply;
	sm->apply_deferred = sm_apply_deferred;
	sm->flush = sm_flush;
	sm->snapshot = sm_snapshot;
	sm->snapshot_begin = sm_snapshot_begin;
	sm->snapshot_write = store__sm_snapshot_write;
	sm->snapshot_errmsg = store__sm_snapshot_errmsg;
	sm->snapshot_end = store__sm_snapshot_end;
	sm->restore = sm_restore;
	sm->applied_index = sm_applied_index;
	sm->errmsg = sm_errmsg;
}

void applier_close(struct applier *a)
{
	outcome_release(&a->outcome);
	buf_release(&a->effects);
	buf_release(&a->marks);
	buf_release(&a->scratch);
}

int applier_result(struct store_txn *t, uint64_t index, uint32_t pos, struct result_row *r)
{
	struct unpacker u;
	uint8_t key[12];
	const void *val;
	size_t vlen;
	uint32_t n;
	int rv;

	row_key(key, index, pos);
	rv = store_get(t, STORE_RESULTS, key, sizeof key, STORE_AT_LATEST, &val, &vlen);
	if (rv != 0)
		return rv;
	unpacker_init(&u, val, vlen);
	if (unpack_array(&u, &n) != 0 || n < 5 || unpack_uint(&u, &r->origin) != 0 ||
	    unpack_uint(&u, &r->request_id) != 0 || unpack_int(&u, &r->code) != 0 ||
	    unpack_str(&u, &r->message, &r->message_len) != 0 ||
	    unpack_bin(&u, &r->result, &r->result_len) != 0)
		return ERR_CORRUPT;
	return 0;
}

int applier_log_decode(const void *key, size_t klen, const void *val, size_t vlen,
		       struct log_row *r)
{
	struct unpacker u;
	uint32_t n;

	if (klen != 12)
		return ERR_CORRUPT;
	r->index = be64_get(key);
	r->pos = be32_get((const uint8_t *)key + 8);
	unpacker_init(&u, val, vlen);
	if (unpack_array(&u, &n) != 0 || n < 7 || unpack_uint(&u, &r->term) != 0 ||
	    unpack_uint(&u, &r->time_ms) != 0 || unpack_uint(&u, &r->origin) != 0 ||
	    unpack_str(&u, &r->principal, &r->principal_len) != 0 ||
	    unpack_uint(&u, &r->type) != 0 || unpack_int(&u, &r->code) != 0 ||
	    unpack_str(&u, &r->summary, &r->summary_len) != 0)
		return ERR_CORRUPT;
	return 0;
}
