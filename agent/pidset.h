/*
 * A set of process ids (agent-private): open addressing with linear probing
 * and backward-shift deletion, O(1) add, remove and lookup. The reconciler
 * keeps its index of this node's live processes in one (agent/reconcile.c).
 * Not thread-safe; the agent uses it on its loop only.
 */
#ifndef LOGOS_AGENT_PIDSET_H
#define LOGOS_AGENT_PIDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pidset {
	uint64_t *slots; /* 0: free (pids start at 1) */
	size_t cap;      /* a power of two, or 0 */
	size_t n;
};

/* An empty set (no allocation). */
void pidset_init(struct pidset *s);
/* Frees the slots; the set is empty and usable again. */
void pidset_release(struct pidset *s);
/* Empties the set, keeping its memory. */
void pidset_clear(struct pidset *s);
/* Adds `pid` (not 0). 0, or ERR_NOMEM (the set is unchanged). */
int pidset_add(struct pidset *s, uint64_t pid);
/* Removes `pid`; nothing if it is not there. */
void pidset_remove(struct pidset *s, uint64_t pid);
bool pidset_has(const struct pidset *s, uint64_t pid);
static inline size_t pidset_count(const struct pidset *s)
{
	return s->n;
}
/* Copies the pids into a new array, in increasing order, and returns it
 * (*n of them; the caller frees it), or NULL if out of memory (or empty,
 * with *n 0). */
uint64_t *pidset_sorted(const struct pidset *s, size_t *n);

#endif /* LOGOS_AGENT_PIDSET_H */
