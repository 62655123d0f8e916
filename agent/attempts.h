/*
 * A set of attempts (agent-private): keys (pid, attempt), each with a value of
 * a fixed size chosen at init, in one array of slots (open addressing, linear
 * probing, backward-shift deletion; O(1) add, find and remove). The executor
 * keeps every attempt it ever journaled in one (agent/exec.c, its `known`
 * set, the value: OS pid, running process, open in the journal); the
 * reconciler the attempts with a final report queued (agent/reconcile.c,
 * the value: a count), and its index of this node's live processes (keys
 * (pid, 0), no value).
 *
 * Values are zeroed when their key is added. A value pointer is valid until
 * the next add, reserve or remove (they move slots), or the release. Not
 * thread-safe; the agent uses it on its loop only.
 */
#ifndef LOGOS_AGENT_ATTEMPTS_H
#define LOGOS_AGENT_ATTEMPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct attempts {
	unsigned char *slots; /* cap slots of slot_size bytes */
	size_t cap;           /* a power of two, or 0 */
	size_t n;             /* keys in the set */
	size_t slot_size;     /* the key's header, then the value */
};

/* An empty set of values of `value_size` bytes (no allocation). */
void attempts_init(struct attempts *s, size_t value_size);
/* Frees the slots; the set is empty and usable again. */
void attempts_release(struct attempts *s);
static inline size_t attempts_count(const struct attempts *s)
{
	return s->n;
}
/* Makes room for `more` keys, so that that many adds cannot fail (and move
 * no slot). 0 or ERR_NOMEM (the set is unchanged). */
int attempts_reserve(struct attempts *s, size_t more);
/* The value of (pid, attempt), added (zeroed) if new, *added telling which
 * (`added` may be NULL); NULL when out of memory (the set is unchanged). */
void *attempts_add(struct attempts *s, uint64_t pid, uint32_t attempt, bool *added);
/* The value of (pid, attempt), or NULL if it is not in the set. */
void *attempts_find(const struct attempts *s, uint64_t pid, uint32_t attempt);
/* Removes (pid, attempt); nothing if it is not in the set. */
void attempts_remove(struct attempts *s, uint64_t pid, uint32_t attempt);
/*
 * Iterates in slot order: *pos starts at 0; returns the next key's value and
 * sets *pid and *attempt, or NULL at the end. The set must not change during
 * the iteration (values may).
 */
void *attempts_next(const struct attempts *s, size_t *pos, uint64_t *pid, uint32_t *attempt);

#endif /* LOGOS_AGENT_ATTEMPTS_H */
