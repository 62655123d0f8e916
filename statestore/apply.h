/*
 * The apply loop (DESIGN §2, §3): the state machine that consensus drives. For
 * each log entry it decodes the entry's batch of commands, runs each through
 * its service over a view of the store's write transaction, writes the delta
 * of every accepted command, records every command's result (TABLE_RESULTS)
 * and audit record (TABLE_LOG), and commits — all or nothing for the entry,
 * each command accepted or rejected on its own. The entries of a group
 * (applier_apply_deferred, common/sm.h) share one transaction, committed by
 * applier_flush; applier_apply commits each entry on its own. Effects of
 * committed entries are handed to a callback after the commit, never
 * before.
 *
 * Rows (keys: index u64 BE, position u32 BE):
 *   results: msgpack [origin, request_id, code, message, result (bin)]
 *   log:     msgpack [term, time_ms, origin, principal, type, code, summary]
 *            (type is the command type, 0 when the command did not decode)
 */
#ifndef LOGOS_STATESTORE_APPLY_H
#define LOGOS_STATESTORE_APPLY_H

#include <stdint.h>

#include "common/sm.h"
#include "services/service.h"
#include "statestore/store.h"

/* Called once per effect of a committed entry, in order. */
typedef void (*applier_effect_cb)(void *arg, uint64_t index, const struct effect *e);

struct applier {
	struct store *store;
	struct outcome outcome; /* Reused for every command. */
	struct buf effects;     /* Effects of the open group's entries. */
	struct buf marks;       /* Where each entry's effects begin (apply.c). */
	struct buf scratch;
	applier_effect_cb on_effect; /* May be NULL. */
	void *arg;
	uint64_t commands; /* Commands applied since start (metrics). */
	uint64_t rejected; /* Of which rejected. */
	/* Rewinds applied since start (counted when applied, also in a group
	 * that is then run again or dropped): whoever keeps something derived
	 * from the rows outside the store (the agent's reconciler) rebuilds it
	 * when this moves, since a rewind changes rows without effects. */
	uint64_t rewinds;
};

/* Sets up an applier over an open store, and `sm` to drive it. */
void applier_init(struct applier *a, struct store *s, struct sm *sm, applier_effect_cb cb,
		  void *arg);
void applier_close(struct applier *a);

/* Applies one entry at `index` and commits it (what sm->apply calls). Errors
 * as store_apply's. */
int applier_apply(struct applier *a, uint64_t index, const void *entry, size_t len);

/* Applies one entry at `index` into the open group without committing it
 * (sm->apply_deferred; store_group_apply). On error the group is dropped. */
int applier_apply_deferred(struct applier *a, uint64_t index, const void *entry, size_t len);

/* Commits the open group (sm->flush; store_group_commit), then hands the
 * effects of its entries to the callback, in order. 0 when none is open. */
int applier_flush(struct applier *a);

/* A command's recorded result, decoded (borrowed from the transaction). */
struct result_row {
	uint64_t origin;
	uint64_t request_id;
	int64_t code;
	const char *message;
	size_t message_len;
	const void *result; /* msgpack map, or empty */
	size_t result_len;
};

/* Reads the result of the command at (index, pos). ERR_NOTFOUND if none,
 * ERR_CORRUPT if the row is damaged. */
int applier_result(struct store_txn *t, uint64_t index, uint32_t pos, struct result_row *r);

/* A log record, decoded (borrowed from the transaction). */
struct log_row {
	uint64_t index;
	uint32_t pos;
	uint64_t term;
	uint64_t time_ms;
	uint64_t origin;
	const char *principal;
	size_t principal_len;
	uint64_t type;
	int64_t code;
	const char *summary;
	size_t summary_len;
};

int applier_log_decode(const void *key, size_t klen, const void *val, size_t vlen,
		       struct log_row *r);

#endif /* LOGOS_STATESTORE_APPLY_H */
