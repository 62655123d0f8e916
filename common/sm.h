/*
 * The state-machine interface between consensus and the state store
 * (DESIGN §3). consensus drives a `struct sm` without knowing what is inside;
 * statestore implements it. Keeping this the only meeting point is what lets
 * statestore never include raft.h and consensus know nothing of services.
 *
 * All calls are made from one thread (the agent's loop), but snapshot_write.
 */
#ifndef LOGOS_COMMON_SM_H
#define LOGOS_COMMON_SM_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct sm_snapshot; /* the implementation's handle of a snapshot in parts */

struct sm {
	void *data; /* The implementation's own state. */

	/*
	 * Applies the log entry at `index` (its payload `len` bytes at `buf`).
	 * Entries at or below the last applied index are skipped (raft replays
	 * entries after its last snapshot on start; DESIGN §4.4).
	 *
	 * Returns 0 whenever the entry was applied or skipped, including when
	 * its commands were rejected (a rejection is a result recorded in the
	 * state, never an apply failure; DESIGN §2). A non-zero return means
	 * the environment failed (I/O error, out of memory) and the entry was
	 * not applied; the caller must stop rather than carry on.
	 */
	int (*apply)(struct sm *sm, uint64_t index, const void *buf, size_t len);

	/*
	 * Group commit (optional: both NULL when the implementation has none).
	 * apply_deferred applies like apply, with the same results and errors,
	 * but may leave the entry's writes in an open transaction shared with
	 * the entries applied after it; flush commits that transaction (one
	 * sync for the whole group) and only then makes the entries visible:
	 * until the flush, applied_index, readers and whatever waits on an
	 * index (effects, watches, results) see the last committed state. The
	 * driver bounds a group (count and bytes) and calls flush at the end of
	 * each loop turn, before snapshot and restore, and before it stops;
	 * `buf` is copied, so it need not outlive the call. An entry is still
	 * all or nothing: a failed apply_deferred or flush drops the whole open
	 * group (the log still holds it) and, as for apply, the caller must
	 * stop. flush returns 0 when nothing is open. A driver that never calls
	 * apply_deferred gets one commit per entry, as before.
	 */
	int (*apply_deferred)(struct sm *sm, uint64_t index, const void *buf, size_t len);
	int (*flush)(struct sm *sm);

	/* Serialises the whole state into `out` (appended). 0 or an error.
	 * Entries of an open group are committed first. */
	int (*snapshot)(struct sm *sm, struct buf *out);

	/*
	 * The same snapshot in parts, so that the serialisation can run on
	 * another thread while this one goes on applying (consensus takes its
	 * snapshots this way only). snapshot_begin fixes the state as
	 * of now (entries of an open group are committed first) in a handle;
	 * snapshot_write appends its serialisation to `out` on any one thread,
	 * concurrently with every other call, and touches nothing but the
	 * handle (its message: snapshot_errmsg); snapshot_end releases the
	 * handle on the calling thread, written or not. One at a time.
	 */
	int (*snapshot_begin)(struct sm *sm, struct sm_snapshot **snap);
	int (*snapshot_write)(struct sm_snapshot *snap, struct buf *out);
	const char *(*snapshot_errmsg)(struct sm_snapshot *snap);
	void (*snapshot_end)(struct sm *sm, struct sm_snapshot *snap);

	/*
	 * Replaces the whole state with the snapshot in `buf` atomically: on any
	 * error (ERR_CORRUPT for a damaged or truncated snapshot) the state is
	 * left exactly as it was.
	 */
	int (*restore)(struct sm *sm, const void *buf, size_t len);

	/* The index of the last applied entry (0 for an empty state). */
	uint64_t (*applied_index)(struct sm *sm);

	/* The message of the last failed call, for logs; never NULL. */
	const char *(*errmsg)(struct sm *sm);
};

#endif /* LOGOS_COMMON_SM_H */
