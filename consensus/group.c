/*
 * Group commit of consensus/internal.h (DESIGN §4.4). libraft 0.22 calls
 * fsm->apply once per committed entry, often many in a row in one loop turn (a
 * follower catching up, a leader committing a burst). When the state machine
 * offers apply_deferred and flush (common/sm.h), the entries applied in one
 * loop turn share one transaction, committed (one sync) by a check handle
 * right after the turn's I/O callbacks, or earlier when the group reaches its
 * bound, before a snapshot is taken or restored, before a request callback
 * reports an applied entry, and on close.
 *
 * This is safe because the raft log is the source of durability: every entry
 * handed to apply is committed in raft, which replays everything after its
 * last snapshot on start, and the snapshot is taken from the state machine
 * after a flush; the store skips what it has committed. What waits on an index
 * (results, barriers, watches, effects) fires only after the commit holding
 * it. A failed commit surfaces outside fsm->apply: it takes the same fatal
 * path (cfg->on_fatal) as a failed apply.
 */
#include "config.h"

#include "consensus/internal.h"

static void on_check(uv_check_t *h)
{
	consensus__flush(h->data);
}

void consensus__group_init(struct consensus *c)
{
	struct sm *sm = c->cfg.sm;

	c->grouping = sm->apply_deferred != NULL && sm->flush != NULL;
	uv_check_init(c->loop, &c->group_check);
	c->group_check.data = c;
}

int consensus__group_apply(struct consensus *c, uint64_t index, const void *buf, size_t len)
{
	struct sm *sm = c->cfg.sm;
	int rv;

	if (!c->grouping || c->closing)
		return sm->apply(sm, index, buf, len);
	rv = sm->apply_deferred(sm, index, buf, len);
	if (rv != 0) {
		/* The state machine dropped the whole open group. */
		c->group_entries = 0;
		c->group_bytes = 0;
		uv_check_stop(&c->group_check);
		return rv;
	}
	if (c->group_entries++ == 0)
		uv_check_start(&c->group_check, on_check);
	c->group_bytes += len;
	if (c->group_entries >= CONSENSUS_GROUP_ENTRIES || c->group_bytes >= CONSENSUS_GROUP_BYTES)
		return consensus__flush(c);
	return 0;
}

int consensus__flush(struct consensus *c)
{
	struct sm *sm = c->cfg.sm;
	int rv;

	if (c->group_entries == 0)
		return 0;
	c->group_entries = 0;
	c->group_bytes = 0;
	c->group_commits++;
	uv_check_stop(&c->group_check);
	rv = sm->flush(sm);
	if (rv != 0)
		consensus__fatal(c, "commit", raft_last_applied(&c->raft));
	return rv;
}

void consensus__group_close(struct consensus *c, uv_close_cb cb)
{
	consensus__flush(c);
	uv_close((uv_handle_t *)&c->group_check, cb);
}
