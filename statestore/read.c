/*
 * Reads of statestore/store.h: point reads and ordered scans as of any
 * readable index, and the digest as of an index. A row's value at N is the
 * prior value recorded by its first change after N, or its current value when
 * it has not changed since N: one ordered seek in hist_key (DESIGN §4.2).
 */
#include "config.h"

#include <string.h>

#include "common/error.h"
#include "statestore/internal.h"

static int check_at(struct store_txn *t, uint64_t at)
{
	struct store *s = t->s;

	if (at == STORE_AT_LATEST || at == t->index)
		return 0;
	if (at > t->index)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_RANGE,
			       "index %llu is above the applied index %llu (readable: %llu..%llu)",
			       (unsigned long long)at, (unsigned long long)t->index,
			       (unsigned long long)t->oldest, (unsigned long long)t->index);
	if (at < t->oldest)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_RANGE,
			       "index %llu is below the oldest readable index %llu (readable: "
			       "%llu..%llu)",
			       (unsigned long long)at, (unsigned long long)t->oldest,
			       (unsigned long long)t->oldest, (unsigned long long)t->index);
	return 0;
}

static int check_table(struct store_txn *t, int table)
{
	if (table < 0 || table >= STORE_N_TABLES)
		return err_set(t->s->errmsg, sizeof t->s->errmsg, ERR_INVALID, "no table %d",
			       table);
	return 0;
}

/* True if `at` asks for something older than the current state of `table`. */
static bool is_past(struct store_txn *t, int table, uint64_t at)
{
	return store_table_is_versioned(table) && at != STORE_AT_LATEST && at != t->index;
}

/*
 * Looks for the first change of (table, key) after `at` with cursor `c`.
 * Returns 1 with the recorded prior value in *v (tag included), 0 when the row
 * has not changed since, or a negative LMDB code.
 */
static int seek_after(struct store_txn *t, MDB_cursor *c, int table, const void *key, size_t klen,
		      uint64_t at, MDB_val *v)
{
	uint8_t hk[STORE__HKEY_MAX];
	MDB_val k;
	size_t n, plen;
	int rc;

	n = store__hkey(hk, table, key, klen, at + 1);
	plen = store__hkey_prefix_len(n);
	k.mv_size = n;
	k.mv_data = hk;
	rc = mdb_cursor_get(c, &k, v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc > 0 ? -rc : rc;
	if (k.mv_size != n || memcmp(k.mv_data, hk, plen) != 0)
		return 0;
	if (v->mv_size < 1 || ((const uint8_t *)v->mv_data)[0] > STORE__PRESENT)
		return MDB_CORRUPTED;
	return 1;
}

int store_get(struct store_txn *t, int table, const void *key, size_t klen, uint64_t at,
	      const void **val, size_t *len)
{
	struct store *s = t->s;
	MDB_val k = {klen, (void *)key}, v;
	MDB_cursor *c;
	int rc;

	if ((rc = check_table(t, table)) != 0 || (rc = check_at(t, at)) != 0)
		return rc;
	if (klen == 0 || klen > STORE_KEY_MAX)
		return ERR_NOTFOUND;
	if (is_past(t, table, at)) {
		rc = mdb_cursor_open(t->txn, s->hist_key, &c);
		if (rc != 0)
			return store__lmdb_error(s, rc, "open cursor");
		rc = seek_after(t, c, table, key, klen, at, &v);
		mdb_cursor_close(c);
		if (rc < 0)
			return store__lmdb_error(s, -rc, "read history");
		if (rc == 1) {
			if (((const uint8_t *)v.mv_data)[0] == STORE__ABSENT)
				return ERR_NOTFOUND;
			*val = (const uint8_t *)v.mv_data + 1;
			*len = v.mv_size - 1;
			return 0;
		}
	}
	rc = mdb_get(t->txn, s->tables[table], &k, &v);
	if (rc == MDB_NOTFOUND)
		return ERR_NOTFOUND;
	if (rc != 0)
		return store__lmdb_error(s, rc, "read");
	*val = v.mv_data;
	*len = v.mv_size;
	return 0;
}

static int keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static bool has_prefix(const struct store_iter *it, const void *key, size_t klen)
{
	return klen >= it->plen && memcmp(key, it->prefix, it->plen) == 0;
}

/* Positions the main cursor at the first key >= `key`. */
static int main_seek(struct store_iter *it, const void *key, size_t klen)
{
	int rc;

	it->mk.mv_size = klen;
	it->mk.mv_data = (void *)key;
	if (klen == 0)
		rc = mdb_cursor_get(it->main, &it->mk, &it->mv, MDB_FIRST);
	else
		rc = mdb_cursor_get(it->main, &it->mk, &it->mv, MDB_SET_RANGE);
	it->main_done = rc == MDB_NOTFOUND;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (!it->main_done && !has_prefix(it, it->mk.mv_data, it->mk.mv_size))
		it->main_done = true;
	return 0;
}

/* Decodes the hist cursor's current entry into it->hk, or marks it done. */
static int hist_load(struct store_iter *it, int rc, MDB_val *k)
{
	int table, n;
	uint64_t index;

	if (rc == MDB_NOTFOUND) {
		it->hist_done = true;
		return 0;
	}
	if (rc != 0)
		return rc;
	if (((const uint8_t *)k->mv_data)[0] != it->table) {
		it->hist_done = true;
		return 0;
	}
	n = store__hkey_decode(k->mv_data, k->mv_size, &table, it->hk, &index);
	if (n < 0)
		return MDB_CORRUPTED;
	it->hklen = (size_t)n;
	if (!has_prefix(it, it->hk, it->hklen))
		it->hist_done = true;
	return 0;
}

/* Positions the hist cursor at the first distinct key >= `key`. */
static int hist_seek(struct store_iter *it, const void *key, size_t klen)
{
	uint8_t hk[STORE__HKEY_MAX];
	MDB_val k, v;
	int rc;

	if (klen == 0) {
		hk[0] = (uint8_t)it->table;
		k.mv_size = 1;
	} else {
		k.mv_size = store__hkey(hk, it->table, key, klen, 0);
	}
	k.mv_data = hk;
	rc = mdb_cursor_get(it->hist, &k, &v, MDB_SET_RANGE);
	return hist_load(it, rc, &k);
}

/* Moves the hist cursor past every entry of its current key. */
static int hist_skip_key(struct store_iter *it)
{
	uint8_t hk[STORE__HKEY_MAX];
	MDB_val k, v;
	int rc;

	k.mv_size = store__hkey(hk, it->table, it->hk, it->hklen, UINT64_MAX);
	k.mv_data = hk;
	rc = mdb_cursor_get(it->hist, &k, &v, MDB_SET_RANGE);
	return hist_load(it, rc, &k);
}

int store_iter_init(struct store_iter *it, struct store_txn *t, int table, const void *prefix,
		    size_t plen, uint64_t at)
{
	struct store *s = t->s;
	int rc;

	memset(it, 0, sizeof *it);
	if ((rc = check_table(t, table)) != 0 || (rc = check_at(t, at)) != 0)
		return rc;
	if (plen > STORE_KEY_MAX)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_TOOBIG, "prefix of %zu bytes",
			       plen);
	it->t = t;
	it->table = table;
	it->at = at;
	if (plen > 0)
		memcpy(it->prefix_copy, prefix, plen);
	it->prefix = it->prefix_copy;
	it->plen = plen;
	rc = mdb_cursor_open(t->txn, s->tables[table], &it->main);
	if (rc != 0)
		goto err;
	it->hist_done = true;
	if (is_past(t, table, at)) {
		if ((rc = mdb_cursor_open(t->txn, s->hist_key, &it->hist)) != 0 ||
		    (rc = mdb_cursor_open(t->txn, s->hist_key, &it->seek)) != 0)
			goto err;
	}
	rc = store_iter_seek(it, it->prefix, plen);
	if (rc != 0) {
		store_iter_close(it);
		return rc;
	}
	return 0;
err:
	store_iter_close(it);
	return store__lmdb_error(s, rc, "open cursor");
}

int store_iter_seek(struct store_iter *it, const void *key, size_t klen)
{
	int rc;

	if (klen > STORE_KEY_MAX)
		return err_set(it->t->s->errmsg, sizeof it->t->s->errmsg, ERR_TOOBIG,
			       "seek key of %zu bytes", klen);
	/* Never before the prefix. */
	if (keycmp(key, klen, it->prefix, it->plen) < 0) {
		key = it->prefix;
		klen = it->plen;
	}
	it->advance_main = it->advance_hist = false;
	rc = main_seek(it, key, klen);
	if (rc == 0 && it->hist != NULL) {
		it->hist_done = false;
		rc = hist_seek(it, key, klen);
	}
	if (rc != 0)
		return store__lmdb_error(it->t->s, rc, "seek");
	return 0;
}

/* Performs the advances left pending by the previous call (deferred so that
 * the key and value it returned stayed valid). */
static int advance(struct store_iter *it)
{
	int rc;

	if (it->advance_main) {
		it->advance_main = false;
		rc = mdb_cursor_get(it->main, &it->mk, &it->mv, MDB_NEXT);
		if (rc == MDB_NOTFOUND ||
		    (rc == 0 && !has_prefix(it, it->mk.mv_data, it->mk.mv_size)))
			it->main_done = true;
		else if (rc != 0)
			return rc;
	}
	if (it->advance_hist) {
		it->advance_hist = false;
		return hist_skip_key(it);
	}
	return 0;
}

int store_iter_next(struct store_iter *it, const void **key, size_t *klen, const void **val,
		    size_t *vlen)
{
	struct store *s = it->t->s;
	bool from_main;
	MDB_val v;
	int c, rc;

	for (;;) {
		rc = advance(it);
		if (rc != 0)
			return store__lmdb_error(s, rc, "scan");
		if (it->main_done && it->hist_done)
			return ERR_NOTFOUND;
		if (it->main_done)
			c = 1;
		else if (it->hist_done)
			c = -1;
		else
			c = keycmp(it->mk.mv_data, it->mk.mv_size, it->hk, it->hklen);
		from_main = c <= 0;
		it->advance_main = c <= 0;
		it->advance_hist = c >= 0;
		*key = from_main ? it->mk.mv_data : it->hk;
		*klen = from_main ? it->mk.mv_size : it->hklen;

		/* The value at `at`: the first change after it, else the current one. */
		rc = 0;
		if (it->seek != NULL) {
			rc = seek_after(it->t, it->seek, it->table, *key, *klen, it->at, &v);
			if (rc < 0)
				return store__lmdb_error(s, -rc, "read history");
		}
		if (rc == 1) {
			if (((const uint8_t *)v.mv_data)[0] == STORE__ABSENT)
				continue;
			*val = (const uint8_t *)v.mv_data + 1;
			*vlen = v.mv_size - 1;
			return 0;
		}
		if (from_main) {
			*val = it->mv.mv_data;
			*vlen = it->mv.mv_size;
			return 0;
		}
		/* Only in the history, unchanged since `at`: absent then too. */
	}
}

void store_iter_close(struct store_iter *it)
{
	if (it->main != NULL)
		mdb_cursor_close(it->main);
	if (it->hist != NULL)
		mdb_cursor_close(it->hist);
	if (it->seek != NULL)
		mdb_cursor_close(it->seek);
	it->main = it->hist = it->seek = NULL;
}

int store_digest_at(struct store_txn *t, uint64_t at, struct hash128 *d)
{
	struct store *s = t->s;
	uint8_t kb[8];
	MDB_val k = {sizeof kb, kb}, v;
	MDB_cursor *c;
	int rc;

	if ((rc = check_at(t, at)) != 0)
		return rc;
	if (at == STORE_AT_LATEST || at == t->index) {
		*d = t->digest;
		return 0;
	}
	/* The digest row of the last applied index at or below `at`. */
	rc = mdb_cursor_open(t->txn, s->digests, &c);
	if (rc != 0)
		return store__lmdb_error(s, rc, "open cursor");
	be64_put(kb, at + 1);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND) {
		d->hi = d->lo = 0; /* Nothing applied yet at `at`. */
		return 0;
	}
	if (rc != 0)
		return store__lmdb_error(s, rc, "read digest");
	if (v.mv_size != 16 || k.mv_size != 8 || be64_get(k.mv_data) > at)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
			       "digest row for index %llu is damaged", (unsigned long long)at);
	*d = digest_get(v.mv_data);
	return 0;
}
