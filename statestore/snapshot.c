/*
 * Snapshot and restore of statestore/store.h. A snapshot carries everything
 * (state, history, digests, bookkeeping), so a replica restored from it can
 * serve the same as-of reads and apply the same rewinds as one that applied
 * the log.
 *
 * Format (all integers big-endian):
 *   "LOGOSNP1" | u32 format | u64 applied | u64 oldest | digest[16]
 *   then for each database, in a fixed order:
 *     u8 id | u64 count | count × (u32 klen | u32 vlen | key | value)
 *   then hash128 of every preceding byte [16].
 * Keys appear in each database's order; restore checks all of it (structure,
 * order, hash, the digest recomputed from the rows, and that the history and
 * digest records are well-formed and within the snapshot's readable range
 * (oldest, applied]) before committing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "statestore/internal.h"

static const char magic[8] = {'L', 'O', 'G', 'O', 'S', 'N', 'P', '1'};
#define HEADER_LEN    (8 + 4 + 8 + 8 + 16)
#define HASH_SEED     0x534e4150ULL
#define ID_META       100
#define ID_HIST_KEY   101
#define ID_HIST_INDEX 102
#define ID_DIGESTS    103
#define N_DBS         (STORE_N_TABLES + 4)

static void db_list(struct store *s, MDB_dbi dbis[N_DBS], uint8_t ids[N_DBS])
{
	int i;

	for (i = 0; i < STORE_N_TABLES; i++) {
		dbis[i] = s->tables[i];
		ids[i] = (uint8_t)i;
	}
	dbis[i] = s->meta;
	ids[i++] = ID_META;
	dbis[i] = s->hist_key;
	ids[i++] = ID_HIST_KEY;
	dbis[i] = s->hist_index;
	ids[i++] = ID_HIST_INDEX;
	dbis[i] = s->digests;
	ids[i] = ID_DIGESTS;
}

struct store_snapshot {
	struct store *s;
	MDB_txn *txn; /* NULL once written */
	MDB_dbi dbis[N_DBS];
	uint8_t ids[N_DBS];
	uint64_t index;
	uint64_t oldest;
	struct hash128 digest;
	size_t size_hint; /* bytes in use in the map: about the snapshot's size */
	char errmsg[256];
};

static int dump_db(struct store_snapshot *snap, int i, struct buf *out)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t n = 0;
	size_t count_at;
	int rc;

	if ((rc = mdb_cursor_open(snap->txn, snap->dbis[i], &c)) != 0)
		return store__lmdb_error_to(snap->errmsg, sizeof snap->errmsg, rc,
					    "snapshot: open cursor");
	if (buf_put_u8(out, snap->ids[i]) != 0 || buf_put_u64be(out, 0) != 0)
		goto nomem;
	count_at = out->len - 8;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (buf_put_u32be(out, (uint32_t)k.mv_size) != 0 ||
		    buf_put_u32be(out, (uint32_t)v.mv_size) != 0 ||
		    buf_append(out, k.mv_data, k.mv_size) != 0 ||
		    buf_append(out, v.mv_data, v.mv_size) != 0)
			goto nomem;
		n++;
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return store__lmdb_error_to(snap->errmsg, sizeof snap->errmsg, rc,
					    "snapshot: read");
	be64_put(out->data + count_at, n);
	return 0;
nomem:
	mdb_cursor_close(c);
	return err_set(snap->errmsg, sizeof snap->errmsg, ERR_NOMEM, "snapshot: out of memory");
}

int store_snapshot_begin(struct store *s, struct store_snapshot **out)
{
	struct store_snapshot *snap;
	struct store_txn t;
	MDB_envinfo info;
	MDB_stat st;
	int rc;

	if (s->snap_open)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_BUSY,
			       "snapshot: another snapshot is being taken");
	rc = store_group_commit(s); /* A read sees committed state only. */
	if (rc == 0)
		rc = store_read(s, &t);
	if (rc != 0)
		return rc;
	snap = calloc(1, sizeof *snap);
	if (snap == NULL) {
		store_read_end(&t);
		return err_set(s->errmsg, sizeof s->errmsg, ERR_NOMEM, "snapshot: out of memory");
	}
	snap->s = s;
	snap->txn = t.txn;
	snap->index = t.index;
	snap->oldest = t.oldest;
	snap->digest = t.digest;
	db_list(s, snap->dbis, snap->ids);
	if (mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &st) == 0)
		snap->size_hint = (size_t)(info.me_last_pgno + 1) * st.ms_psize;
	pthread_mutex_lock(&s->snap_mu);
	s->snap_reading = true;
	pthread_mutex_unlock(&s->snap_mu);
	s->snap_open = true;
	*out = snap;
	return 0;
}

/* The read is over: the map may grow again. */
static void snap_read_done(struct store_snapshot *snap)
{
	struct store *s = snap->s;

	if (snap->txn == NULL)
		return;
	mdb_txn_abort(snap->txn); /* MDB_NOTLS: from any thread */
	snap->txn = NULL;
	pthread_mutex_lock(&s->snap_mu);
	s->snap_reading = false;
	pthread_cond_broadcast(&s->snap_cv);
	pthread_mutex_unlock(&s->snap_mu);
}

int store_snapshot_write(struct store_snapshot *snap, struct buf *out)
{
	uint8_t head[HEADER_LEN], tail[16];
	size_t start = out->len;
	int rc, i;

	if (snap->txn == NULL)
		return err_set(snap->errmsg, sizeof snap->errmsg, ERR_INVALID,
			       "snapshot: already written");
	/* One allocation up front rather than doublings and copies of hundreds
	 * of MB; pages never touched cost no memory. */
	if (snap->size_hint > 0)
		(void)buf_reserve(out, snap->size_hint); /* else it grows as it goes */
	memcpy(head, magic, 8);
	be32_put(head + 8, STORE_FORMAT);
	be64_put(head + 12, snap->index);
	be64_put(head + 20, snap->oldest);
	digest_put(head + 28, snap->digest);
	rc = buf_append(out, head, sizeof head) != 0 ? err_set(snap->errmsg, sizeof snap->errmsg,
							       ERR_NOMEM, "snapshot: out of memory")
						     : 0;
	for (i = 0; rc == 0 && i < N_DBS; i++)
		rc = dump_db(snap, i, out);
	snap_read_done(snap);
	if (rc == 0) {
		digest_put(tail, hash128(out->data + start, out->len - start, HASH_SEED));
		if (buf_append(out, tail, sizeof tail) != 0)
			rc = err_set(snap->errmsg, sizeof snap->errmsg, ERR_NOMEM,
				     "snapshot: out of memory");
	}
	if (rc != 0)
		out->len = start;
	return rc;
}

const char *store_snapshot_errmsg(const struct store_snapshot *snap)
{
	return snap->errmsg;
}

void store_snapshot_end(struct store_snapshot *snap)
{
	if (snap == NULL)
		return;
	snap_read_done(snap);
	snap->s->snap_open = false;
	free(snap);
}

int store_snapshot(struct store *s, struct buf *out)
{
	struct store_snapshot *snap;
	int rc;

	rc = store_snapshot_begin(s, &snap);
	if (rc != 0)
		return rc;
	rc = store_snapshot_write(snap, out);
	if (rc != 0)
		snprintf(s->errmsg, sizeof s->errmsg, "%s", snap->errmsg);
	store_snapshot_end(snap);
	return rc;
}

struct reader {
	const uint8_t *p;
	const uint8_t *end;
};

static bool take(struct reader *r, size_t n, const uint8_t **out)
{
	if ((size_t)(r->end - r->p) < n)
		return false;
	*out = r->p;
	r->p += n;
	return true;
}

static int keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/*
 * Checks a record of the history and digest databases: a history entry of an
 * index outside (oldest, applied] or of an unversioned table cannot come from
 * a store, and the readers rely on it (an entry at index UINT64_MAX made a
 * scan as of an older index loop forever). Returns 0 or ERR_CORRUPT.
 */
static int check_record(struct store *s, uint8_t id, const uint8_t *key, uint32_t klen,
			const uint8_t *val, uint32_t vlen, uint64_t applied, uint64_t oldest)
{
	uint8_t k[STORE_KEY_MAX];
	uint64_t index;
	int table;

	switch (id) {
	case ID_HIST_KEY:
		if (store__hkey_decode(key, klen, &table, k, &index) < 0 ||
		    !store_table_is_versioned(table) || vlen < 1 || val[0] > STORE__PRESENT)
			return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
				       "snapshot: malformed history record");
		break;
	case ID_HIST_INDEX:
		if (klen < 8 + 1 + 1 || !store_table_is_versioned(key[8]) || vlen != 0)
			return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
				       "snapshot: malformed history index record");
		index = be64_get(key);
		break;
	case ID_DIGESTS:
		if (klen != 8 || vlen != 16)
			return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
				       "snapshot: malformed digest record");
		index = be64_get(key);
		if (index > applied)
			return err_set(
				s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
				"snapshot: digest of index %llu above the applied index %llu",
				(unsigned long long)index, (unsigned long long)applied);
		return 0;
	default:
		return 0;
	}
	if (index <= oldest || index > applied)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
			       "snapshot: history of index %llu outside the readable range "
			       "%llu..%llu",
			       (unsigned long long)index, (unsigned long long)oldest,
			       (unsigned long long)applied);
	return 0;
}

/*
 * Walks the database sections. With `txn` NULL only validates; otherwise
 * loads every record into the matching database.
 */
static int walk(struct store *s, const uint8_t *body, size_t len, uint64_t applied, uint64_t oldest,
		MDB_txn *txn, struct hash128 *rows)
{
	struct reader r = {body, body + len};
	MDB_dbi dbis[N_DBS];
	uint8_t ids[N_DBS];
	const uint8_t *p, *key, *val, *prev;
	uint64_t count, j;
	uint32_t klen, vlen, prevlen;
	int i, rc;

	db_list(s, dbis, ids);
	for (i = 0; i < N_DBS; i++) {
		if (!take(&r, 9, &p))
			goto truncated;
		if (p[0] != ids[i])
			return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
				       "snapshot: database %d has id %u, expected %u", i, p[0],
				       ids[i]);
		count = be64_get(p + 1);
		if (count > (uint64_t)(r.end - r.p) / 8)
			goto truncated;
		prev = NULL;
		prevlen = 0;
		for (j = 0; j < count; j++) {
			if (!take(&r, 8, &p))
				goto truncated;
			klen = be32_get(p);
			vlen = be32_get(p + 4);
			if (klen == 0 || klen > STORE__LMDB_KEY_MAX)
				return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
					       "snapshot: key of %u bytes in database %u", klen,
					       ids[i]);
			if (!take(&r, klen, &key) || !take(&r, vlen, &val))
				goto truncated;
			if (prev != NULL && keycmp(prev, prevlen, key, klen) >= 0)
				return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
					       "snapshot: keys out of order in database %u",
					       ids[i]);
			prev = key;
			prevlen = klen;
			if (txn == NULL && (rc = check_record(s, ids[i], key, klen, val, vlen,
							      applied, oldest)) != 0)
				return rc;
			if (rows != NULL && ids[i] < STORE_N_VERSIONED)
				*rows = digest_add(*rows,
						   store__row_hash(ids[i], key, klen, val, vlen));
			if (txn != NULL) {
				MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
				rc = mdb_put(txn, dbis[i], &k, &v, MDB_APPEND);
				if (rc != 0)
					return store__lmdb_error(s, rc, "restore: write");
			}
		}
	}
	if (r.p != r.end)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
			       "snapshot: %zu unexpected bytes after the last database",
			       (size_t)(r.end - r.p));
	return 0;
truncated:
	return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT, "snapshot: truncated");
}

static int load(struct store *s, const uint8_t *body, size_t len, uint64_t applied, uint64_t oldest,
		struct hash128 digest)
{
	MDB_dbi dbis[N_DBS];
	uint8_t ids[N_DBS];
	MDB_txn *txn;
	uint64_t a, o;
	struct hash128 d;
	int i, rc;

	db_list(s, dbis, ids);
	for (;;) {
		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
		if (rc != 0)
			return store__lmdb_error(s, rc, "restore: begin");
		for (i = 0; i < N_DBS; i++) {
			rc = mdb_drop(txn, dbis[i], 0);
			if (rc != 0) {
				rc = store__lmdb_error(s, rc, "restore: clear");
				goto abort;
			}
		}
		rc = walk(s, body, len, applied, oldest, txn, NULL);
		if (rc != 0)
			goto abort;
		rc = store__read_state(s, txn, &a, &o, &d);
		if (rc != 0)
			goto abort;
		if (a != applied || o != oldest || !digest_equal(d, digest)) {
			rc = err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
				     "snapshot: header (index %llu) disagrees with its meta record "
				     "(index %llu)",
				     (unsigned long long)applied, (unsigned long long)a);
			goto abort;
		}
		rc = mdb_txn_commit(txn);
		if (rc == MDB_MAP_FULL && store__grow(s) == 0)
			continue;
		if (rc != 0)
			return store__lmdb_error(s, rc, "restore: commit");
		s->applied = applied;
		s->oldest = oldest;
		s->digest = digest;
		return 0;
	abort:
		mdb_txn_abort(txn);
		if (rc == ERR_FULL && store__grow(s) == 0)
			continue;
		return rc;
	}
}

/*
 * Whether the store has already applied the snapshot's state: its index is at
 * or below the applied index and the store's digest at that index is the
 * snapshot's. raft loads its last snapshot at every start, and the store
 * (durable on its own) has usually applied past it; the same log gives the
 * same digest at every index, so there is nothing to replace, and raft's
 * replay of the entries after the snapshot skips what was applied. (The
 * snapshot is still checked in full first.) A store
 * that lost its last transactions (a power loss under MDB_NOMETASYNC), or
 * whose history no longer reaches that index, is restored in full.
 */
static bool holds(struct store *s, uint64_t applied, struct hash128 digest)
{
	struct store_txn t;
	struct hash128 d;
	bool same;

	if (applied == 0 || applied > s->applied || store_read(s, &t) != 0)
		return false;
	same = store_digest_at(&t, applied, &d) == 0 && digest_equal(d, digest);
	store_read_end(&t);
	return same;
}

int store_restore(struct store *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	struct hash128 want, got, rows;
	uint32_t format;
	int rc;

	rc = store_group_commit(s); /* load() needs the write transaction. */
	if (rc != 0)
		return rc;
	if (len < HEADER_LEN + 16 || memcmp(p, magic, sizeof magic) != 0)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
			       "snapshot: not a logos snapshot (%zu bytes)", len);
	format = be32_get(p + 8);
	if (format != STORE_FORMAT)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_UNSUPPORTED,
			       "snapshot: format %u is not supported (this build reads %d)", format,
			       STORE_FORMAT);
	want = digest_get(p + len - 16);
	got = hash128(p, len - 16, HASH_SEED);
	if (!digest_equal(want, got))
		return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
			       "snapshot: checksum mismatch (damaged or truncated)");
	rows.hi = rows.lo = 0;
	rc = walk(s, p + HEADER_LEN, len - HEADER_LEN - 16, be64_get(p + 12), be64_get(p + 20),
		  NULL, &rows);
	if (rc != 0)
		return rc;
	if (!digest_equal(rows, digest_get(p + 28)))
		return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
			       "snapshot: rows do not match the digest of index %llu",
			       (unsigned long long)be64_get(p + 12));
	if (holds(s, be64_get(p + 12), digest_get(p + 28)))
		return 0;
	return load(s, p + HEADER_LEN, len - HEADER_LEN - 16, be64_get(p + 12), be64_get(p + 20),
		    digest_get(p + 28));
}
