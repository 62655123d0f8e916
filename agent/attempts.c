/*
 * The set of attempts of agent/attempts.h. A slot is a struct key followed by
 * the value (padded to 8 bytes); a slot whose key is not `used` is free.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "agent/attempts.h"
#include "common/error.h"

struct key {
	uint64_t pid;
	uint32_t attempt;
	uint32_t used; /* 0: a free slot */
};

static size_t attempt_hash(uint64_t pid, uint32_t attempt)
{
	uint64_t h = pid * 0x9e3779b97f4a7c15ull ^ (uint64_t)attempt * 0xc2b2ae3d27d4eb4full;

	return (size_t)(h ^ (h >> 29));
}

static struct key *slot_at(unsigned char *slots, size_t slot_size, size_t i)
{
	return (struct key *)(void *)(slots + i * slot_size);
}

/* The slot of (pid, attempt), or the free slot where it would go (cap > 0). */
static struct key *probe(unsigned char *slots, size_t cap, size_t slot_size, uint64_t pid,
			 uint32_t attempt)
{
	struct key *k;
	size_t i;

	for (i = attempt_hash(pid, attempt) & (cap - 1);; i = (i + 1) & (cap - 1)) {
		k = slot_at(slots, slot_size, i);
		if (!k->used || (k->pid == pid && k->attempt == attempt))
			return k;
	}
}

void attempts_init(struct attempts *s, size_t value_size)
{
	memset(s, 0, sizeof *s);
	s->slot_size = sizeof(struct key) + (value_size + 7) / 8 * 8;
}

void attempts_release(struct attempts *s)
{
	free(s->slots);
	s->slots = NULL;
	s->cap = s->n = 0;
}

int attempts_reserve(struct attempts *s, size_t more)
{
	unsigned char *slots;
	struct key *old;
	size_t cap, i;

	if ((s->n + more) * 4 <= s->cap * 3)
		return 0;
	cap = s->cap ? s->cap * 2 : 64;
	while ((s->n + more) * 4 > cap * 3)
		cap *= 2;
	slots = calloc(cap, s->slot_size);
	if (slots == NULL)
		return ERR_NOMEM;
	for (i = 0; i < s->cap; i++) {
		old = slot_at(s->slots, s->slot_size, i);
		if (old->used)
			memcpy(probe(slots, cap, s->slot_size, old->pid, old->attempt), old,
			       s->slot_size);
	}
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

void *attempts_add(struct attempts *s, uint64_t pid, uint32_t attempt, bool *added)
{
	struct key *k;

	if (attempts_reserve(s, 1) != 0)
		return NULL;
	k = probe(s->slots, s->cap, s->slot_size, pid, attempt);
	if (added != NULL)
		*added = !k->used;
	if (!k->used) {
		memset(k, 0, s->slot_size);
		k->pid = pid;
		k->attempt = attempt;
		k->used = 1;
		s->n++;
	}
	return k + 1;
}

void *attempts_find(const struct attempts *s, uint64_t pid, uint32_t attempt)
{
	struct key *k;

	if (s->n == 0)
		return NULL;
	k = probe(s->slots, s->cap, s->slot_size, pid, attempt);
	return k->used ? k + 1 : NULL;
}

void attempts_remove(struct attempts *s, uint64_t pid, uint32_t attempt)
{
	size_t i, j, home, mask = s->cap - 1;
	struct key *k;

	if (s->n == 0)
		return;
	k = probe(s->slots, s->cap, s->slot_size, pid, attempt);
	if (!k->used)
		return;
	s->n--;
	/* Backward-shift deletion keeps every probe chain unbroken: move j
	 * into the hole at i if its home is not in (i, j]. */
	i = (size_t)((unsigned char *)k - s->slots) / s->slot_size;
	for (j = (i + 1) & mask; (k = slot_at(s->slots, s->slot_size, j))->used;
	     j = (j + 1) & mask) {
		home = attempt_hash(k->pid, k->attempt) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			memcpy(slot_at(s->slots, s->slot_size, i), k, s->slot_size);
			i = j;
		}
	}
	memset(slot_at(s->slots, s->slot_size, i), 0, s->slot_size);
}

void *attempts_next(const struct attempts *s, size_t *pos, uint64_t *pid, uint32_t *attempt)
{
	struct key *k;

	for (; *pos < s->cap; (*pos)++) {
		k = slot_at(s->slots, s->slot_size, *pos);
		if (k->used) {
			(*pos)++;
			*pid = k->pid;
			*attempt = k->attempt;
			return k + 1;
		}
	}
	return NULL;
}
