/*
 * The state-machine interface between consensus and the state store
 * (DESIGN §3). consensus drives a `struct sm` without knowing what is inside;
 * statestore implements it. Keeping this the only meeting point is what lets
 * statestore never include raft.h and consensus know nothing of services.
 *
 * All calls are made from one thread (the agent's loop).
 */
#ifndef LOGOS_COMMON_SM_H
#define LOGOS_COMMON_SM_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

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

	/* Serialises the whole state into `out` (appended). 0 or an error. */
	int (*snapshot)(struct sm *sm, struct buf *out);

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
