/*
 * The OS services as pure transitions (DESIGN §2, §5; STYLE "Services stay
 * pure"). A transition is a function of (read-only view of the state, command)
 * to (delta, effects, result):
 *   - the view reads the state as it is before the command (earlier commands
 *     of the same batch included); a service never reads its own writes;
 *   - the delta lists the writes (puts, deletes, rewind, compaction) that the
 *     state store applies if and only if the command is accepted;
 *   - effects are data addressed to a node (start attempt, signal attempt),
 *     hints for that node's reconciler, which also works from the state alone;
 *   - the result is a code (0 accepted, or the ERR_* of a rejection, with a
 *     message) and a msgpack map of type-specific fields.
 * No I/O, clock, randomness, logging or globals; memory only through the
 * caller's outcome buffers. Time and ids come stamped in the command.
 */
#ifndef LOGOS_SERVICES_SERVICE_H
#define LOGOS_SERVICES_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/pack.h"
#include "common/tables.h"
#include "services/command.h"

/* Called for each row of a scan; returns 0 to go on, 1 to stop, or an error. */
typedef int (*view_row_cb)(void *arg, const void *key, size_t klen, const void *val, size_t vlen);

/* The read-only state a transition sees (implemented by statestore). */
struct view {
	void *data;
	/* 0 with a borrowed value (valid until the command ends),
	 * ERR_NOTFOUND, or an environmental error to return as is. */
	int (*get)(const struct view *v, int table, const void *key, size_t klen, const void **val,
		   size_t *vlen);
	/* Rows whose key starts with `prefix`, in key order. Returns 0, or the
	 * first non-zero, non-1 value of cb, or an environmental error. */
	int (*scan)(const struct view *v, int table, const void *prefix, size_t plen,
		    view_row_cb cb, void *arg);
	uint64_t index;  /* The index being applied. */
	uint64_t oldest; /* The oldest readable index. */
};

/* Writes, encoded in a caller-owned buffer. */
enum delta_op_kind {
	DELTA_PUT = 1,
	DELTA_DEL,
	DELTA_REWIND,
	DELTA_COMPACT,
};

struct delta {
	struct buf ops;
	uint32_t count;
};

struct delta_op {
	int kind;
	int table;
	const uint8_t *key;
	size_t klen;
	const uint8_t *val;
	size_t vlen;
	uint64_t target; /* For DELTA_REWIND and DELTA_COMPACT. */
};

/* Each returns 0 or ERR_NOMEM. Key and value are copied. */
int delta_put(struct delta *d, int table, const void *key, size_t klen, const void *val,
	      size_t vlen);
int delta_del(struct delta *d, int table, const void *key, size_t klen);
int delta_rewind(struct delta *d, uint64_t target);
int delta_compact(struct delta *d, uint64_t target);
/* Iterates: *pos starts at 0; returns 0 with the next op, ERR_NOTFOUND at the
 * end. Pointers are into the delta. */
int delta_next(const struct delta *d, size_t *pos, struct delta_op *op);

enum effect_kind {
	EFFECT_START = 1, /* Start (pid, attempt) on node. */
	EFFECT_SIGNAL,    /* Send signal to (pid, attempt) on node. */
};

struct effect {
	uint64_t node;
	int kind;
	uint64_t pid;
	uint32_t attempt;
	int signal;
};

/* Effects are a caller-owned array of struct effect in a buffer. */
struct effects {
	struct buf buf;
};

int effects_add(struct effects *e, uint64_t node, int kind, uint64_t pid, uint32_t attempt,
		int signal);
static inline size_t effects_count(const struct effects *e)
{
	return e->buf.len / sizeof(struct effect);
}
static inline const struct effect *effects_at(const struct effects *e, size_t i)
{
	return (const struct effect *)(const void *)e->buf.data + i;
}

#define OUTCOME_MESSAGE_MAX 256

struct outcome {
	struct delta delta;
	struct effects effects;
	struct buf result;  /* msgpack map of the type's result fields, or empty */
	struct packer pack; /* Packs into `result`. */
	/* Working memory for transitions, owned by the caller like the rest:
	 * a transition needs no allocation of its own (STYLE). */
	struct buf scratch; /* e.g. a row being encoded */
	struct buf nodes;   /* the node table of a placement */
	int code;           /* 0 accepted, else the ERR_* of the rejection */
	char message[OUTCOME_MESSAGE_MAX];
};

void outcome_init(struct outcome *o);
/* Empties the outcome for the next command (keeps the memory). */
void outcome_reset(struct outcome *o);
void outcome_release(struct outcome *o);

/*
 * Rejects the command: sets code and message and drops any delta, effects and
 * result gathered so far. Returns 0, so that a transition can end with
 *     return outcome_reject(o, ERR_NOTFOUND, "no process %llu", pid);
 * (a rejection is a result, not a failure).
 */
int outcome_reject(struct outcome *o, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Applies one decoded command: handles its idempotency key (a key already
 * applied returns the original result and changes nothing), then dispatches
 * to the service of its type. Returns 0 (accepted or rejected: see o->code)
 * or an environmental error from the view or ERR_NOMEM.
 */
int service_apply(const struct view *v, const struct cmd *c, struct outcome *o);

/* Shared helpers for transitions. */

/* Reads an unsigned counter from TABLE_COUNTERS (0 when absent). */
int service_counter(const struct view *v, const char *name, uint64_t *value);
/* Writes a counter into the delta. */
int service_counter_put(struct outcome *o, const char *name, uint64_t value);

#endif /* LOGOS_SERVICES_SERVICE_H */
