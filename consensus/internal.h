/*
 * What the files of consensus/ share: the FSM adapter (fsm.c) and the
 * translation of raft's error codes into the project's (consensus.c).
 */
#ifndef LOGOS_CONSENSUS_INTERNAL_H
#define LOGOS_CONSENSUS_INTERNAL_H

#include "consensus/consensus.h"

/* Fills c->fsm (version 2) to drive c->cfg.sm. */
void consensus__fsm_init(struct consensus *c);

/* Logs a failure of the state machine at `index` and tells the agent through
 * cfg->on_fatal (once); later applies fail. */
void consensus__fatal(struct consensus *c, const char *what, uint64_t index);

/* Group commit (consensus/group.c): a group holds at most this many entries
 * or bytes before it is committed within the loop turn. */
#define CONSENSUS_GROUP_ENTRIES 1024
#define CONSENSUS_GROUP_BYTES   ((size_t)4 << 20)

/* Sets up the check handle (c->loop, c->cfg.sm set). */
void consensus__group_init(struct consensus *c);
/* Applies the entry at `index`: deferred into the open group when the state
 * machine can, else committed at once. 0 or the state machine's error. */
int consensus__group_apply(struct consensus *c, uint64_t index, const void *buf, size_t len);
/* Commits the open group, if any (0 when none); on failure takes the fatal
 * path and returns the state machine's error. */
int consensus__flush(struct consensus *c);
/* Commits the open group and closes the check handle; cb fires once closed. */
void consensus__group_close(struct consensus *c, uv_close_cb cb);

/* Snapshots (consensus/snapshot.c): the FSM's snapshot and finalize (version
 * 2), serialised off the loop when the state machine can. */
int consensus__fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs);
int consensus__fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[],
				     unsigned *n_bufs);
/* Wraps c->io's snapshot_put and start (after raft_init); a snapshot is due
 * after at least `threshold` entries (and see consensus/snapshot.c). */
void consensus__snapshot_init(struct consensus *c, unsigned threshold);
/* Counts the payload of an applied entry; sets raft's threshold so that it
 * takes a snapshot when one is due. */
void consensus__snapshot_due(struct consensus *c, size_t applied_bytes);
/* A snapshot of `bytes` was restored. */
void consensus__snapshot_restored(struct consensus *c, size_t bytes);
/* Whether a serialisation is queued or running (closing waits for it). */
bool consensus__snapshot_working(const struct consensus *c);
/* Cancels a serialisation not yet started and drops a held message. */
void consensus__snapshot_close(struct consensus *c);
/* One step of the close chain done (consensus.c). */
void consensus__close_step(struct consensus *c);

/* The ERR_* code for a raft error code (RAFT_*). */
int consensus__raft_err(const struct consensus *c, int rv);

#endif /* LOGOS_CONSENSUS_INTERNAL_H */
