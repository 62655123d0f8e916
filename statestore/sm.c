/*
 * The state-machine interface (common/sm.h) over the store: what consensus
 * calls. Each entry becomes one store_apply() transaction, or a part of a group
 * (store_group_apply) when the driver defers commits.
 */
#include "config.h"

#include "statestore/internal.h"

struct entry {
	struct store *s;
	const void *buf;
	size_t len;
};

static int apply_entry(struct store_txn *t, void *arg)
{
	struct entry *e = arg;

	return e->s->entry_fn(t, e->buf, e->len, e->s->entry_arg);
}

static int sm_apply(struct sm *sm, uint64_t index, const void *buf, size_t len)
{
	struct entry e = {sm->data, buf, len};

	return store_apply(e.s, index, apply_entry, &e);
}

static int sm_apply_deferred(struct sm *sm, uint64_t index, const void *buf, size_t len)
{
	struct store *s = sm->data;

	return store_group_apply(s, index, s->entry_fn, buf, len, s->entry_arg);
}

static int sm_flush(struct sm *sm)
{
	return store_group_commit(sm->data);
}

static int sm_snapshot(struct sm *sm, struct buf *out)
{
	return store_snapshot(sm->data, out);
}

/* struct sm_snapshot is the store's handle under an opaque name. */
static int sm_snapshot_begin(struct sm *sm, struct sm_snapshot **snap)
{
	return store_snapshot_begin(sm->data, (struct store_snapshot **)snap);
}

int store__sm_snapshot_write(struct sm_snapshot *snap, struct buf *out)
{
	return store_snapshot_write((struct store_snapshot *)snap, out);
}

const char *store__sm_snapshot_errmsg(struct sm_snapshot *snap)
{
	return store_snapshot_errmsg((struct store_snapshot *)snap);
}

void store__sm_snapshot_end(struct sm *sm, struct sm_snapshot *snap)
{
	(void)sm;
	store_snapshot_end((struct store_snapshot *)snap);
}

static int sm_restore(struct sm *sm, const void *buf, size_t len)
{
	return store_restore(sm->data, buf, len);
}

static uint64_t sm_applied_index(struct sm *sm)
{
	return store_applied_index(sm->data);
}

static const char *sm_errmsg(struct sm *sm)
{
	struct store *s = sm->data;

	return s->errmsg;
}

void store_sm_init(struct store *s, struct sm *sm, store_entry_fn fn, void *arg)
{
	s->entry_fn = fn;
	s->entry_arg = arg;
	sm->data = s;
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
