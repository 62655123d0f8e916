/*
 * The raft FSM adapter (struct raft_fsm, version 2) over a `struct sm`
 * (common/sm.h): apply passes each command entry with its log index, snapshot
 * hands raft the state machine's serialisation (consensus/snapshot.c takes it
 * off the loop), and restore replaces the state with a snapshot.
 *
 * The index: libraft (legacy.c, legacyApply) applies committed entries in
 * order and advances last_applied for every entry, commands, barriers and
 * configuration changes alike, after the FSM returns; so during fsm->apply
 * the entry's index is raft_last_applied() + 1 (tests/unit/consensus checks
 * it against the indexes raft_apply reports, with barriers and membership
 * changes interleaved).
 *
 * A non-zero return from apply stalls this replica for good (raft never
 * retries nor skips the entry; reliability.md R15). The state machine fails
 * only on environmental errors (DESIGN §2), so then we log, tell the agent
 * through cfg->on_fatal (once) and let it exit and recover from its peers.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <raft.h>
#include <uv.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"
#include "common/sm.h"
#include "consensus/internal.h"

static void fsm_fatal(struct consensus *c, const char *what, uint64_t index)
{
	char msg[512];

	snprintf(msg, sizeof msg, "%s index=%llu: %s", what, (unsigned long long)index,
		 c->cfg.sm->errmsg(c->cfg.sm));
	logger_error(c->cfg.lg, "consensus: %s", msg);
	if (c->fatal)
		return;
	c->fatal = true;
	if (c->cfg.on_fatal != NULL)
		c->cfg.on_fatal(c->cfg.arg, msg);
}

void consensus__fatal(struct consensus *c, const char *what, uint64_t index)
{
	fsm_fatal(c, what, index);
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	struct consensus *c = fsm->data;
	uint64_t index = raft_last_applied(&c->raft) + 1;

	*result = NULL; /* Results are dropped on followers: never used. */
	if (c->fatal)
		return RAFT_IOERR;
	/* Possibly deferred into this loop turn's group (consensus/group.c). */
	if (consensus__group_apply(c, index, buf->base, buf->len) != 0) {
		fsm_fatal(c, "apply", index);
		return RAFT_IOERR;
	}
	consensus__snapshot_due(c, buf->len);
	return 0;
}

/*
 * The snapshot itself is taken by consensus/snapshot.c (off the loop).
 *
 * Refused (RAFT_BUSY: raft skips this snapshot and tries again after a later
 * entry) while a configuration entry raft already applied is not yet
 * committed in raft's own state. libraft 0.22.1 (legacy.c) applies a run of
 * committed entries and only then handles, one event at a time, the
 * configuration changes among them; it checks for a snapshot after each
 * event, and labels the snapshot with r->configuration_committed. With two
 * configuration entries in one run (a follower catching up, or any server
 * after a restart, whose log's last configuration is uncommitted until
 * applied again) the snapshot taken after the first event records the older
 * configuration while covering the newer entry, which is never applied again:
 * a server that restores it goes back to the old membership (found by the
 * simulation, tests/sim, seed 220553 at 600 steps: a removed voter came back
 * in the leader's configuration). */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct consensus *c = fsm->data;

	if (c->raft.configuration_uncommitted_index != 0 &&
	    c->raft.configuration_uncommitted_index <= raft_last_applied(&c->raft))
		return RAFT_BUSY;
	return consensus__fsm_snapshot(fsm, bufs, n_bufs);
}

/* raft's contract (legacy.c, raft_start and snapshot install): on success the
 * FSM owns buf->base and must raft_free it; on failure raft keeps it. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct consensus *c = fsm->data;
	struct sm *sm = c->cfg.sm;

	if (consensus__flush(c) != 0)
		return RAFT_IOERR;
	if (sm->restore(sm, buf->base, buf->len) != 0) {
		/* At start raft_start fails with this; later the replica stops. */
		if (c->started)
			fsm_fatal(c, "restore snapshot", raft_last_applied(&c->raft));
		else
			logger_error(c->cfg.lg, "consensus: restore snapshot: %s", sm->errmsg(sm));
		return RAFT_CORRUPT;
	}
	consensus__snapshot_restored(c, buf->len);
	raft_free(buf->base);
	logger_info(c->cfg.lg, "consensus: restored snapshot applied=%llu (%s)",
		    (unsigned long long)sm->applied_index(sm),
		    c->started ? "installed from the leader" : "loaded at start");
	return 0;
}

void consensus__fsm_init(struct consensus *c)
{
	memset(&c->fsm, 0, sizeof c->fsm);
	c->fsm.version = 2; /* with snapshot_finalize: the snapshot's buffers stay ours */
	c->fsm.data = c;
	c->fsm.apply = fsm_apply;
	c->fsm.snapshot = fsm_snapshot;
	c->fsm.restore = fsm_restore;
	c->fsm.snapshot_finalize = consensus__fsm_snapshot_finalize;
}
