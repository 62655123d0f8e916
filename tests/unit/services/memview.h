/*
 * An in-memory state for service tests: sorted tables implementing
 * `struct view`, into which a transition's delta can be applied. It is the
 * "initial rows" side of the table-driven tests (STYLE "Services stay pure").
 */
#ifndef LOGOS_TESTS_MEMVIEW_H
#define LOGOS_TESTS_MEMVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "services/service.h"

struct memrow {
	uint8_t *key;
	size_t klen;
	uint8_t *val;
	size_t vlen;
};

struct memview {
	struct view view;
	struct memrow *rows[TABLE_COUNT];
	size_t n[TABLE_COUNT];
	size_t cap[TABLE_COUNT];
	uint64_t rewound_to;   /* last DELTA_REWIND target applied, or 0 */
	uint64_t compacted_to; /* last DELTA_COMPACT target applied, or 0 */
};

/* An empty state at index `index` (view.index), oldest readable 0. */
void memview_init(struct memview *m, uint64_t index);
void memview_release(struct memview *m);

/* Sets or deletes one row directly (test set-up). */
void memview_set(struct memview *m, int table, const void *key, size_t klen, const void *val,
		 size_t vlen);
void memview_unset(struct memview *m, int table, const void *key, size_t klen);

/* The row, or NULL. */
const struct memrow *memview_find(const struct memview *m, int table, const void *key, size_t klen);

/* Applies a delta's puts and deletes (rewind and compaction are only
 * recorded in rewound_to and compacted_to), then advances view.index by one. */
void memview_apply(struct memview *m, const struct delta *d);

/* Runs a command through service_apply and, if accepted, applies its delta.
 * Returns service_apply's return value; the outcome is left in `o`. */
int memview_run(struct memview *m, const struct cmd *c, struct outcome *o);

/* Packs a NULL-terminated list of strings as a msgpack array into `b`
 * (reset first) and points `r` at it: for argv fields. */
void memview_pack_strs(struct buf *b, struct rawref *r, const char *const *strs);
/* Packs NULL-terminated name/value pairs as a msgpack map: for env fields. */
void memview_pack_env(struct buf *b, struct rawref *r, const char *const *pairs);

/* A strref of a C string (NULL gives {NULL, 0}). */
struct strref memview_str(const char *s);

#endif /* LOGOS_TESTS_MEMVIEW_H */
