/*
 * Group commit of consensus/internal.h (DESIGN §4.4). libraft 0.22 calls
 * fsm->apply once per committed entry, often many in a row in one loop turn (a
 * follower catching up, a leader committing a burst). When the state machine
 * offers apply_deferred and flush (common/sm.h), the entries applied in one
 * loop turn share one transaction, committed (one sync) by a check handle
 * right after the turn's I/O callbacks (on a follower, after the turn that
 * stores the append in flight: hold_for_append), or earlier when the group
 * reaches its bound, before a snapshot is taken or restored, before a request
 * callback reports an applied entry, and on close.
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

/*
 * Whether a follower should hold its open group back for now: true while an
 * append of raft's that was in flight when the group was due is still in
 * flight. A follower answers the leader's AppendEntries only once its append
 * is on disk, and raft learns that in a later loop turn (raft_uv's completion
 * is an I/O event) than the one that received the entries. That same turn
 * usually applies the entries the message declared committed; committing
 * them in its check (a synced LMDB commit, 0.3-0.5 ms) held the loop, and so
 * the answer the leader's commit was waiting for, for that long: at one write
 * at a time the leader waited for a follower's append plus its LMDB commit
 * (docs/PERFORMANCE.md, "One write at a time"). Held back, the commit comes in the check of
 * the turn that sends the answer. The wait is for one append: entries that
 * arrive meanwhile do not extend it, so a steady stream of appends cannot
 * starve the commit, and the group's bounds still commit it at once. A leader
 * commits at once: its requests wait for the commit itself (settle, in
 * consensus.c), not for an answer it sends.
 */
static bool hold_for_append(struct consensus *c)
{
	raft_index last;

	if (c->closing || raft_state(&c->raft) != RAFT_FOLLOWER) {
		c->group_wait = 0;
		return false;
	}
	last = raft_last_index(&c->raft);
	/* The log may have been truncated since the wait began. */
	if (c->group_wait == 0 || c->group_wait > last)
		c->group_wait = last;
	if (c->raft.last_stored < c->group_wait)
		return true;
	c->group_wait = 0;
	return false;
}

static void on_check(uv_check_t *h)
{
	struct consensus *c = h->data;

	if (hold_for_append(c))
		return; /* the check stays active: re-checked after the next poll */
	consensus__flush(c);
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
	c->group_wait = 0;
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
