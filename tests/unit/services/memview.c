/*
 * The in-memory state of memview.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tests/unit/services/memview.h"

static int cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Index of the first row >= key. */
static size_t lower_bound(const struct memview *m, int table, const void *key, size_t klen)
{
	size_t lo = 0, hi = m->n[table];

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct memrow *r = &m->rows[table][mid];
		if (cmp(r->key, r->klen, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct memrow *memview_find(const struct memview *m, int table, const void *key, size_t klen)
{
	size_t i = lower_bound(m, table, key, klen);

	if (i < m->n[table] && cmp(m->rows[table][i].key, m->rows[table][i].klen, key, klen) == 0)
		return &m->rows[table][i];
	return NULL;
}

static void *dup(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);

	if (q == NULL)
		abort();
	memcpy(q, p, n);
	return q;
}

void memview_set(struct memview *m, int table, const void *key, size_t klen, const void *val,
		 size_t vlen)
{
	size_t i = lower_bound(m, table, key, klen);
	struct memrow *r;

	if (i < m->n[table] && cmp(m->rows[table][i].key, m->rows[table][i].klen, key, klen) == 0) {
		r = &m->rows[table][i];
		free(r->val);
		r->val = dup(val, vlen);
		r->vlen = vlen;
		return;
	}
	if (m->n[table] == m->cap[table]) {
		m->cap[table] = m->cap[table] ? 2 * m->cap[table] : 16;
		m->rows[table] = realloc(m->rows[table], m->cap[table] * sizeof(struct memrow));
		if (m->rows[table] == NULL)
			abort();
	}
	memmove(&m->rows[table][i + 1], &m->rows[table][i],
		(m->n[table] - i) * sizeof(struct memrow));
	r = &m->rows[table][i];
	r->key = dup(key, klen);
	r->klen = klen;
	r->val = dup(val, vlen);
	r->vlen = vlen;
	m->n[table]++;
}

void memview_unset(struct memview *m, int table, const void *key, size_t klen)
{
	size_t i = lower_bound(m, table, key, klen);

	if (i >= m->n[table] || cmp(m->rows[table][i].key, m->rows[table][i].klen, key, klen) != 0)
		return;
	free(m->rows[table][i].key);
	free(m->rows[table][i].val);
	memmove(&m->rows[table][i], &m->rows[table][i + 1],
		(m->n[table] - i - 1) * sizeof(struct memrow));
	m->n[table]--;
}

static int view_get(const struct view *v, int table, const void *key, size_t klen, const void **val,
		    size_t *vlen)
{
	const struct memview *m = v->data;
	const struct memrow *r;

	if (table < 0 || table >= TABLE_COUNT)
		return ERR_INVALID;
	r = memview_find(m, table, key, klen);
	if (r == NULL)
		return ERR_NOTFOUND;
	*val = r->val;
	*vlen = r->vlen;
	return 0;
}

static int view_scan(const struct view *v, int table, const void *prefix, size_t plen,
		     view_row_cb cb, void *arg)
{
	const struct memview *m = v->data;
	size_t i;
	int rv;

	if (table < 0 || table >= TABLE_COUNT)
		return ERR_INVALID;
	for (i = lower_bound(m, table, prefix, plen); i < m->n[table]; i++) {
		const struct memrow *r = &m->rows[table][i];
		if (r->klen < plen || (plen > 0 && memcmp(r->key, prefix, plen) != 0))
			break;
		rv = cb(arg, r->key, r->klen, r->val, r->vlen);
		if (rv == 1)
			return 0;
		if (rv != 0)
			return rv;
	}
	return 0;
}

void memview_init(struct memview *m, uint64_t index)
{
	memset(m, 0, sizeof *m);
	m->view.data = m;
	m->view.get = view_get;
	m->view.scan = view_scan;
	m->view.index = index;
	m->view.oldest = 0;
}

void memview_release(struct memview *m)
{
	int t;
	size_t i;

	for (t = 0; t < TABLE_COUNT; t++) {
		for (i = 0; i < m->n[t]; i++) {
			free(m->rows[t][i].key);
			free(m->rows[t][i].val);
		}
		free(m->rows[t]);
	}
	memset(m, 0, sizeof *m);
}

void memview_apply(struct memview *m, const struct delta *d)
{
	struct delta_op op;
	size_t pos = 0;

	while (delta_next(d, &pos, &op) == 0) {
		switch (op.kind) {
		case DELTA_PUT:
			memview_set(m, op.table, op.key, op.klen, op.val, op.vlen);
			break;
		case DELTA_DEL:
			memview_unset(m, op.table, op.key, op.klen);
			break;
		case DELTA_REWIND:
			m->rewound_to = op.target;
			break;
		case DELTA_COMPACT:
			m->compacted_to = op.target;
			break;
		default:
			abort();
		}
	}
	m->view.index++;
}

int memview_run(struct memview *m, const struct cmd *c, struct outcome *o)
{
	int rv = service_apply(&m->view, c, o);

	if (rv == 0 && o->code == 0)
		memview_apply(m, &o->delta);
	else
		m->view.index++;
	return rv;
}

void memview_pack_strs(struct buf *b, struct rawref *r, const char *const *strs)
{
	struct packer pk;
	uint32_t n = 0;

	while (strs[n] != NULL)
		n++;
	b->len = 0;
	packer_init(&pk, b);
	pack_array(&pk, n);
	for (uint32_t i = 0; i < n; i++)
		pack_cstr(&pk, strs[i]);
	r->p = b->data;
	r->n = b->len;
	r->count = n;
}

void memview_pack_env(struct buf *b, struct rawref *r, const char *const *pairs)
{
	struct packer pk;
	uint32_t n = 0;

	while (pairs[2 * n] != NULL)
		n++;
	b->len = 0;
	packer_init(&pk, b);
	pack_map(&pk, n);
	for (uint32_t i = 0; i < 2 * n; i++)
		pack_cstr(&pk, pairs[i]);
	r->p = b->data;
	r->n = b->len;
	r->count = n;
}

struct strref memview_str(const char *s)
{
	struct strref r = {s, s != NULL ? strlen(s) : 0};

	return r;
}
