/*
 * Versioned writes of statestore/store.h: every change to a versioned row
 * records the row's prior value as history of the transaction's index, once
 * per (row, index), and moves the digest by the difference.
 */
#include "config.h"

#include <string.h>

#include "common/error.h"
#include "statestore/internal.h"

static int check_write(struct store_txn *t, int table, size_t klen)
{
	struct store *s = t->s;

	if (!t->write)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_INVALID,
			       "write in a read-only transaction");
	if (table < 0 || table >= STORE_N_TABLES)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_INVALID, "no table %d", table);
	if (klen == 0)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_INVALID, "empty key in table '%s'",
			       store_table_name(table));
	if (klen > STORE_KEY_MAX)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_TOOBIG,
			       "key of %zu bytes in table '%s' exceeds the limit of %d bytes", klen,
			       store_table_name(table), STORE_KEY_MAX);
	if (t->err != 0)
		return t->err;
	return 0;
}

/*
 * Copies the row's current value out of LMDB: a later put may spill or reuse
 * the page it lives in.
 */
static int keep_old(struct store_txn *t, const MDB_val *old)
{
	struct buf *b = &t->s->scratch;

	b->len = 0;
	if (buf_append(b, old->mv_data, old->mv_size) != 0) {
		if (t->err == 0)
			t->err = ERR_NOMEM;
		return err_set(t->s->errmsg, sizeof t->s->errmsg, ERR_NOMEM,
			       "copy prior value of %zu bytes", old->mv_size);
	}
	return 0;
}

/*
 * Records the row's prior value (`had` false: the row was absent) as its value
 * before this transaction's index, unless a change at this index was already
 * recorded: the value before the index is the one seen by its first change.
 */
static int record_history(struct store_txn *t, int table, const void *key, size_t klen, bool had,
			  const struct buf *old)
{
	uint8_t hk[STORE__HKEY_MAX], ik[9 + STORE_KEY_MAX];
	MDB_val k, v;
	uint8_t *p;
	int rc;

	k.mv_size = store__hkey(hk, table, key, klen, t->index);
	k.mv_data = hk;
	v.mv_size = 1 + (had ? old->len : 0);
	rc = mdb_put(t->txn, t->s->hist_key, &k, &v, MDB_NOOVERWRITE | MDB_RESERVE);
	if (rc == MDB_KEYEXIST)
		return 0;
	if (rc != 0)
		return store__txn_fail(t, rc, "write history");
	p = v.mv_data;
	p[0] = had ? STORE__PRESENT : STORE__ABSENT;
	if (had && old->len > 0)
		memcpy(p + 1, old->data, old->len);

	k.mv_size = store__ikey(ik, t->index, table, key, klen);
	k.mv_data = ik;
	v.mv_size = 0;
	v.mv_data = NULL;
	rc = mdb_put(t->txn, t->s->hist_index, &k, &v, 0);
	if (rc != 0)
		return store__txn_fail(t, rc, "write history index");
	return 0;
}

int store_put(struct store_txn *t, int table, const void *key, size_t klen, const void *val,
	      size_t vlen)
{
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val}, old;
	bool versioned = store_table_is_versioned(table);
	bool had = false;
	int rc;

	rc = check_write(t, table, klen);
	if (rc != 0)
		return rc;
	if (versioned) {
		rc = mdb_get(t->txn, t->s->tables[table], &k, &old);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return store__txn_fail(t, rc, "read before write");
		had = rc == 0;
		if (had && old.mv_size == vlen &&
		    (vlen == 0 || memcmp(old.mv_data, val, vlen) == 0))
			return 0; /* Unchanged: no history, no digest change. */
		if (had) {
			rc = keep_old(t, &old);
			if (rc != 0)
				return rc;
			t->digest =
				digest_sub(t->digest, store__row_hash(table, key, klen, old.mv_data,
								      old.mv_size));
		}
		rc = record_history(t, table, key, klen, had, &t->s->scratch);
		if (rc != 0)
			return rc;
		t->digest = digest_add(t->digest, store__row_hash(table, key, klen, val, vlen));
	}
	rc = mdb_put(t->txn, t->s->tables[table], &k, &v, 0);
	if (rc != 0)
		return store__txn_fail(t, rc, "write");
	return 0;
}

int store_del(struct store_txn *t, int table, const void *key, size_t klen)
{
	MDB_val k = {klen, (void *)key}, old;
	int rc;

	rc = check_write(t, table, klen);
	if (rc != 0)
		return rc;
	rc = mdb_get(t->txn, t->s->tables[table], &k, &old);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store__txn_fail(t, rc, "read before delete");
	if (store_table_is_versioned(table)) {
		rc = keep_old(t, &old);
		if (rc != 0)
			return rc;
		t->digest = digest_sub(t->digest,
				       store__row_hash(table, key, klen, old.mv_data, old.mv_size));
		rc = record_history(t, table, key, klen, true, &t->s->scratch);
		if (rc != 0)
			return rc;
	}
	rc = mdb_del(t->txn, t->s->tables[table], &k, NULL);
	if (rc != 0)
		return store__txn_fail(t, rc, "delete");
	return 0;
}
