/*
 * Rewind and compaction of statestore/store.h (DESIGN §4.2).
 *
 * rewind(N) at index R walks the history by index over (N, R]; for each row it
 * finds there, the first change after N holds the row's value at N, which is
 * written back as a change of R. Nothing is erased, so the rewind itself is
 * history and can be rewound. compact(N) drops the history at or below N.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "statestore/internal.h"

/*
 * Collects, into `rows`, every (table, key) whose first change after `target`
 * is at the index being visited: [table u8][klen u8][key] records. Keys are
 * copied out because the restore writes below move LMDB's pages.
 */
static int collect(struct store_txn *t, uint64_t target, struct buf *rows, size_t *count)
{
	struct store *s = t->s;
	MDB_cursor *ic = NULL, *hc = NULL;
	uint8_t kb[8], hk[STORE__HKEY_MAX];
	MDB_val k = {sizeof kb, kb}, v, hkv, hv;
	const uint8_t *p;
	uint64_t index;
	size_t klen, n;
	int table, rc;

	*count = 0;
	if ((rc = mdb_cursor_open(t->txn, s->hist_index, &ic)) != 0 ||
	    (rc = mdb_cursor_open(t->txn, s->hist_key, &hc)) != 0)
		goto out;
	be64_put(kb, target + 1);
	for (rc = mdb_cursor_get(ic, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(ic, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 10 || k.mv_size > 9 + STORE_KEY_MAX) {
			rc = MDB_CORRUPTED;
			goto out;
		}
		p = k.mv_data;
		index = be64_get(p);
		table = p[8];
		klen = k.mv_size - 9;
		if (!store_table_is_versioned(table)) {
			rc = MDB_CORRUPTED;
			goto out;
		}
		/* Is this the row's first change after target? */
		n = store__hkey(hk, table, p + 9, klen, target + 1);
		hkv.mv_size = n;
		hkv.mv_data = hk;
		rc = mdb_cursor_get(hc, &hkv, &hv, MDB_SET_RANGE);
		if (rc != 0 || hkv.mv_size != n ||
		    memcmp(hkv.mv_data, hk, store__hkey_prefix_len(n)) != 0) {
			rc = MDB_CORRUPTED; /* hist_index without hist_key. */
			goto out;
		}
		if (be64_get((const uint8_t *)hkv.mv_data + n - 8) != index)
			continue;
		if (buf_put_u8(rows, (uint8_t)table) != 0 || buf_put_u8(rows, (uint8_t)klen) != 0 ||
		    buf_append(rows, p + 9, klen) != 0) {
			rc = ENOMEM;
			goto out;
		}
		(*count)++;
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
out:
	if (hc != NULL)
		mdb_cursor_close(hc);
	if (ic != NULL)
		mdb_cursor_close(ic);
	if (rc != 0)
		return store__txn_fail(t, rc, "rewind: read history");
	return 0;
}

int store_rewind(struct store_txn *t, uint64_t target)
{
	struct store *s = t->s;
	struct buf rows, val;
	const uint8_t *p, *end;
	const void *v;
	size_t count, vlen;
	int rc;

	if (!t->write)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_INVALID,
			       "rewind in a read-only transaction");
	if (target >= t->index || target < t->oldest)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_RANGE,
			       "cannot rewind to index %llu (readable: %llu..%llu)",
			       (unsigned long long)target, (unsigned long long)t->oldest,
			       (unsigned long long)(t->index - 1));
	buf_init(&rows);
	buf_init(&val);
	rc = collect(t, target, &rows, &count);
	if (rc != 0)
		goto out;
	for (p = rows.data, end = rows.data + rows.len; p < end; p += 2 + p[1]) {
		int table = p[0];
		size_t klen = p[1];
		const uint8_t *key = p + 2;

		rc = store_get(t, table, key, klen, target, &v, &vlen);
		if (rc == ERR_NOTFOUND) {
			rc = store_del(t, table, key, klen);
		} else if (rc == 0) {
			val.len = 0;
			rc = buf_append(&val, v, vlen);
			if (rc == 0)
				rc = store_put(t, table, key, klen, val.data, val.len);
		}
		if (rc != 0)
			goto out;
	}
out:
	buf_release(&rows);
	buf_release(&val);
	if (rc != 0 && t->err == 0 && rc != ERR_RANGE)
		t->err = rc;
	return rc;
}

/* Deletes digest rows below the last one at or below `target`. */
static int compact_digests(struct store_txn *t, uint64_t target)
{
	struct store *s = t->s;
	MDB_cursor *c;
	uint8_t kb[8];
	MDB_val k = {sizeof kb, kb}, v;
	uint64_t keep;
	int rc;

	rc = mdb_cursor_open(t->txn, s->digests, &c);
	if (rc != 0)
		return store__txn_fail(t, rc, "compact digests");
	be64_put(kb, target + 1);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == MDB_NOTFOUND) {
		mdb_cursor_close(c);
		return 0;
	}
	if (rc != 0)
		goto fail;
	keep = be64_get(k.mv_data);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && be64_get(k.mv_data) < keep;
	     rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) {
		rc = mdb_cursor_del(c, 0);
		if (rc != 0)
			goto fail;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail;
	mdb_cursor_close(c);
	return 0;
fail:
	mdb_cursor_close(c);
	return store__txn_fail(t, rc, "compact digests");
}

int store_compact(struct store_txn *t, uint64_t target)
{
	struct store *s = t->s;
	MDB_cursor *ic;
	uint8_t hk[STORE__HKEY_MAX];
	MDB_val k, v, hkv;
	const uint8_t *p;
	uint64_t index;
	int rc;

	if (!t->write)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_INVALID,
			       "compact in a read-only transaction");
	if (target >= t->index)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_RANGE,
			       "cannot compact to index %llu: not below index %llu",
			       (unsigned long long)target, (unsigned long long)t->index);
	if (target <= t->oldest)
		return 0;
	rc = mdb_cursor_open(t->txn, s->hist_index, &ic);
	if (rc != 0)
		return store__txn_fail(t, rc, "compact");
	/* Entries go in index order, so the first is always the next to drop. */
	for (rc = mdb_cursor_get(ic, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(ic, &k, &v, MDB_FIRST)) {
		if (k.mv_size < 10 || k.mv_size > 9 + STORE_KEY_MAX) {
			rc = MDB_CORRUPTED;
			break;
		}
		p = k.mv_data;
		index = be64_get(p);
		if (index > target)
			break;
		hkv.mv_size = store__hkey(hk, p[8], p + 9, k.mv_size - 9, index);
		hkv.mv_data = hk;
		rc = mdb_del(t->txn, s->hist_key, &hkv, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			break;
		rc = mdb_cursor_del(ic, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(ic);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store__txn_fail(t, rc, "compact");
	rc = compact_digests(t, target);
	if (rc != 0)
		return rc;
	t->oldest = target;
	return 0;
}
