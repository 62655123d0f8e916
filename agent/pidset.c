/*
 * The set of process ids of agent/pidset.h.
 */
#include "config.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pidset.h"
#include "common/error.h"

static size_t pid_hash(uint64_t pid)
{
	uint64_t h = pid * 0x9e3779b97f4a7c15ull;

	return (size_t)(h ^ (h >> 29));
}

/* The slot of `pid`, or the free slot where it would go (cap > 0). */
static uint64_t *find(uint64_t *slots, size_t cap, uint64_t pid)
{
	size_t i;

	for (i = pid_hash(pid) & (cap - 1);; i = (i + 1) & (cap - 1))
		if (slots[i] == 0 || slots[i] == pid)
			return &slots[i];
}

void pidset_init(struct pidset *s)
{
	memset(s, 0, sizeof *s);
}

void pidset_release(struct pidset *s)
{
	free(s->slots);
	pidset_init(s);
}

void pidset_clear(struct pidset *s)
{
	if (s->slots != NULL)
		memset(s->slots, 0, s->cap * sizeof *s->slots);
	s->n = 0;
}

int pidset_add(struct pidset *s, uint64_t pid)
{
	uint64_t *slot;
	size_t i;

	assert(pid != 0);
	if ((s->n + 1) * 4 > s->cap * 3) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint64_t *slots = calloc(cap, sizeof *slots);

		if (slots == NULL)
			return ERR_NOMEM;
		for (i = 0; i < s->cap; i++)
			if (s->slots[i] != 0)
				*find(slots, cap, s->slots[i]) = s->slots[i];
		free(s->slots);
		s->slots = slots;
		s->cap = cap;
	}
	slot = find(s->slots, s->cap, pid);
	if (*slot == 0) {
		*slot = pid;
		s->n++;
	}
	return 0;
}

void pidset_remove(struct pidset *s, uint64_t pid)
{
	size_t i, j, home, mask = s->cap - 1;
	uint64_t *slot;

	if (s->n == 0 || pid == 0)
		return;
	slot = find(s->slots, s->cap, pid);
	if (*slot == 0)
		return;
	s->n--;
	/* Backward-shift deletion keeps every probe chain unbroken: move j
	 * into the hole at i if its home is not in (i, j]. */
	i = (size_t)(slot - s->slots);
	for (j = (i + 1) & mask; s->slots[j] != 0; j = (j + 1) & mask) {
		home = pid_hash(s->slots[j]) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->slots[i] = s->slots[j];
			i = j;
		}
	}
	s->slots[i] = 0;
}

bool pidset_has(const struct pidset *s, uint64_t pid)
{
	return s->n > 0 && pid != 0 && *find(s->slots, s->cap, pid) == pid;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

uint64_t *pidset_sorted(const struct pidset *s, size_t *n)
{
	uint64_t *out;
	size_t i, k = 0;

	*n = 0;
	if (s->n == 0 || (out = malloc(s->n * sizeof *out)) == NULL)
		return NULL;
	for (i = 0; i < s->cap; i++)
		if (s->slots[i] != 0)
			out[k++] = s->slots[i];
	qsort(out, k, sizeof *out, cmp_u64);
	*n = k;
	return out;
}
