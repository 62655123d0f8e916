/*
 * The store's environment, metadata, key encodings and the apply transaction
 * of statestore/store.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "statestore/internal.h"

#define GIB                  ((size_t)1 << 30)
#define DEFAULT_MAP_SIZE     (64 * GIB)
#define DEFAULT_MAP_SIZE_MAX (1024 * GIB)

static const char *const table_names[STORE_N_TABLES] = {
	[STORE_NODES] = "nodes", [STORE_PROCS] = "procs",       [STORE_OUTPUT] = "output",
	[STORE_STEPS] = "steps", [STORE_QUEUES] = "queues",     [STORE_MESSAGES] = "messages",
	[STORE_FILES] = "files", [STORE_IDEM] = "idem",         [STORE_RESULTS] = "results",
	[STORE_LOG] = "log",     [STORE_COUNTERS] = "counters",
};

/* The meta record: format u32, applied u64, oldest u64, digest 16 bytes. */
#define STATE_LEN (4 + 8 + 8 + 16)
static const char state_key[] = "state";

const char *store_table_name(int table)
{
	if (table < 0 || table >= STORE_N_TABLES)
		return NULL;
	return table_names[table];
}

int store__lmdb_error(struct store *s, int rc, const char *op)
{
	return store__lmdb_error_to(s->errmsg, sizeof s->errmsg, rc, op);
}

int store__lmdb_error_to(char *errmsg, size_t size, int rc, const char *op)
{
	int code;

	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		code = ERR_NOTFOUND;
		break;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		code = ERR_FULL;
		break;
	case ENOMEM:
		code = ERR_NOMEM;
		break;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		code = ERR_CORRUPT;
		break;
	case MDB_READERS_FULL:
		code = ERR_BUSY;
		break;
	case MDB_BAD_VALSIZE:
		code = ERR_TOOBIG;
		break;
	case EACCES:
	case EPERM:
		code = ERR_DENIED;
		break;
	case ENOSPC:
		code = ERR_FULL;
		break;
	default:
		code = ERR_IO;
		break;
	}
	return err_set(errmsg, size, code, "%s: %s", op, mdb_strerror(rc));
}

int store__txn_fail(struct store_txn *t, int rc, const char *op)
{
	int code = store__lmdb_error(t->s, rc, op);

	if (t->err == 0)
		t->err = code;
	return code;
}

size_t store__hkey(uint8_t *out, int table, const void *key, size_t klen, uint64_t index)
{
	const uint8_t *k = key;
	size_t n = 0, i;

	out[n++] = (uint8_t)table;
	for (i = 0; i < klen; i++) {
		if (n + 2 + 2 + 8 > STORE__HKEY_MAX)
			return 0;
		out[n++] = k[i];
		if (k[i] == 0)
			out[n++] = 0xff;
	}
	if (n + 2 + 8 > STORE__HKEY_MAX)
		return 0;
	out[n++] = 0;
	out[n++] = 0;
	be64_put(out + n, index);
	return n + 8;
}

size_t store__hkey_prefix_len(size_t hkey_len)
{
	return hkey_len - 8;
}

int store__hkey_decode(const uint8_t *hk, size_t len, int *table, uint8_t *key, uint64_t *index)
{
	size_t i, n = 0;

	if (len < 1 + 2 + 8)
		return -1;
	*table = hk[0];
	for (i = 1; i < len - 8;) {
		if (hk[i] != 0) {
			if (n >= STORE_KEY_MAX)
				return -1;
			key[n++] = hk[i++];
			continue;
		}
		if (i + 1 >= len - 8)
			return -1;
		if (hk[i + 1] == 0) {
			if (i + 2 != len - 8)
				return -1;
			*index = be64_get(hk + len - 8);
			return (int)n;
		}
		if (hk[i + 1] != 0xff || n >= STORE_KEY_MAX)
			return -1;
		key[n++] = 0;
		i += 2;
	}
	return -1;
}

size_t store__ikey(uint8_t *out, uint64_t index, int table, const void *key, size_t klen)
{
	be64_put(out, index);
	out[8] = (uint8_t)table;
	memcpy(out + 9, key, klen);
	return 9 + klen;
}

struct hash128 store__row_hash(int table, const void *key, size_t klen, const void *val,
			       size_t vlen)
{
	struct hasher h;
	uint8_t head[5];

	head[0] = (uint8_t)table;
	be32_put(head + 1, (uint32_t)klen);
	hasher_init(&h, 0);
	hasher_update(&h, head, sizeof head);
	hasher_update(&h, key, klen);
	hasher_update(&h, val, vlen);
	return hasher_final(&h);
}

int store__read_state(struct store *s, MDB_txn *txn, uint64_t *applied, uint64_t *oldest,
		      struct hash128 *digest)
{
	MDB_val k = {sizeof state_key - 1, (void *)state_key}, v;
	const uint8_t *p;
	int rc;

	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		*applied = 0;
		*oldest = 0;
		digest->hi = digest->lo = 0;
		return 0;
	}
	if (rc != 0)
		return store__lmdb_error(s, rc, "read meta");
	if (v.mv_size != STATE_LEN)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_CORRUPT,
			       "meta state record has %zu bytes, expected %d", v.mv_size,
			       STATE_LEN);
	p = v.mv_data;
	if (be32_get(p) != STORE_FORMAT)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_UNSUPPORTED,
			       "store format %u is not supported (this build reads %d)",
			       be32_get(p), STORE_FORMAT);
	*applied = be64_get(p + 4);
	*oldest = be64_get(p + 12);
	*digest = digest_get(p + 20);
	return 0;
}

int store__write_state(struct store *s, MDB_txn *txn, uint64_t applied, uint64_t oldest,
		       struct hash128 digest)
{
	MDB_val k = {sizeof state_key - 1, (void *)state_key}, v;
	uint8_t rec[STATE_LEN];

	be32_put(rec, STORE_FORMAT);
	be64_put(rec + 4, applied);
	be64_put(rec + 12, oldest);
	digest_put(rec + 20, digest);
	v.mv_size = sizeof rec;
	v.mv_data = rec;
	return store__lmdb_error(s, mdb_put(txn, s->meta, &k, &v, 0), "write meta");
}

static int open_dbis(struct store *s)
{
	MDB_txn *txn;
	int rc, i;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return store__lmdb_error(s, rc, "begin");
	for (i = 0; i < STORE_N_TABLES; i++) {
		rc = mdb_dbi_open(txn, table_names[i], MDB_CREATE, &s->tables[i]);
		if (rc != 0)
			goto err_abort;
	}
	if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "hist_key", MDB_CREATE, &s->hist_key)) != 0 ||
	    (rc = mdb_dbi_open(txn, "hist_index", MDB_CREATE, &s->hist_index)) != 0 ||
	    (rc = mdb_dbi_open(txn, "digests", MDB_CREATE, &s->digests)) != 0)
		goto err_abort;
	rc = store__read_state(s, txn, &s->applied, &s->oldest, &s->digest);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return store__lmdb_error(s, rc, "commit");
	return 0;
err_abort:
	mdb_txn_abort(txn);
	return store__lmdb_error(s, rc, "open tables");
}

int store_open(struct store *s, const char *path, const struct store_options *opts)
{
	int rc;

	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->snap_mu, NULL);
	pthread_cond_init(&s->snap_cv, NULL);
	s->map_size = opts != NULL && opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
	s->map_size_max =
		opts != NULL && opts->map_size_max ? opts->map_size_max : DEFAULT_MAP_SIZE_MAX;
	if (s->map_size_max < s->map_size)
		s->map_size_max = s->map_size;

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return err_set(s->errmsg, sizeof s->errmsg, errno == EACCES ? ERR_DENIED : ERR_IO,
			       "open store '%s': mkdir: %s", path, strerror(errno));
	rc = mdb_env_create(&s->env);
	if (rc != 0)
		goto err;
	if ((rc = mdb_env_set_maxdbs(s->env, STORE_N_TABLES + 8)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, s->map_size)) != 0)
		goto err_close;
	/*
	 * DESIGN §4.4: the raft log is the source of durability, so the last
	 * transaction may be lost on a crash (raft replays it): MDB_NOMETASYNC
	 * at most, never MDB_NOSYNC|MDB_WRITEMAP. MDB_NOTLS lets a read
	 * transaction be ended on a later loop turn.
	 */
	rc = mdb_env_open(s->env, path, MDB_NOTLS | MDB_NOMETASYNC, 0600);
	if (rc != 0)
		goto err_close;
	rc = open_dbis(s);
	if (rc != 0) {
		mdb_env_close(s->env);
		s->env = NULL;
		return err_wrap(s->errmsg, sizeof s->errmsg, rc, "open store '%s'", path);
	}
	return 0;
err_close:
	mdb_env_close(s->env);
	s->env = NULL;
err:
	rc = store__lmdb_error(s, rc, "mdb_env_open");
	return err_wrap(s->errmsg, sizeof s->errmsg, rc, "open store '%s'", path);
}

static void group_drop(struct store *s);

void store_close(struct store *s)
{
	group_drop(s);
	buf_release(&s->group.entries);
	if (s->env != NULL)
		mdb_env_close(s->env);
	s->env = NULL;
	buf_release(&s->scratch);
	pthread_cond_destroy(&s->snap_cv);
	pthread_mutex_destroy(&s->snap_mu);
}

uint64_t store_applied_index(const struct store *s)
{
	return s->applied;
}

uint64_t store_oldest_index(const struct store *s)
{
	return s->oldest;
}

struct hash128 store_digest(const struct store *s)
{
	return s->digest;
}

int store__grow(struct store *s)
{
	size_t next;
	int rc;

	if (s->map_size >= s->map_size_max)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_FULL,
			       "store map is full at its maximum of %zu bytes", s->map_size_max);
	next = s->map_size > s->map_size_max / 2 ? s->map_size_max : s->map_size * 2;
	/* Not under a snapshot being written on another thread: wait for it. */
	pthread_mutex_lock(&s->snap_mu);
	while (s->snap_reading)
		pthread_cond_wait(&s->snap_cv, &s->snap_mu);
	rc = mdb_env_set_mapsize(s->env, next);
	pthread_mutex_unlock(&s->snap_mu);
	if (rc != 0)
		return store__lmdb_error(s, rc, "grow map");
	s->map_size = next;
	s->grows++;
	return 0;
}

static int write_digest_row(struct store_txn *t)
{
	uint8_t k[8], v[16];
	MDB_val key = {sizeof k, k}, val = {sizeof v, v};
	int rc;

	be64_put(k, t->index);
	digest_put(v, t->digest);
	rc = mdb_put(t->txn, t->s->digests, &key, &val, 0);
	if (rc != 0)
		return store__txn_fail(t, rc, "write digest");
	return 0;
}

int store_apply(struct store *s, uint64_t index, store_apply_fn fn, void *arg)
{
	struct store_txn t;
	int rc;

	rc = store_group_commit(s);
	if (rc != 0)
		return rc;
	if (index <= s->applied)
		return 0;
	for (;;) {
		memset(&t, 0, sizeof t);
		t.s = s;
		t.write = true;
		t.index = index;
		t.oldest = s->oldest;
		t.digest = s->digest;
		rc = mdb_txn_begin(s->env, NULL, 0, &t.txn);
		if (rc == MDB_MAP_RESIZED) {
			mdb_env_set_mapsize(s->env, 0);
			rc = mdb_txn_begin(s->env, NULL, 0, &t.txn);
		}
		if (rc != 0)
			return err_wrap(s->errmsg, sizeof s->errmsg,
					store__lmdb_error(s, rc, "begin"), "apply index %llu",
					(unsigned long long)index);
		rc = fn(&t, arg);
		if (rc == 0 && t.err == 0)
			rc = write_digest_row(&t);
		if (rc == 0 && t.err == 0)
			rc = store__write_state(s, t.txn, index, t.oldest, t.digest);
		if (t.err != 0)
			rc = t.err;
		if (rc != 0) {
			mdb_txn_abort(t.txn);
			if (rc == ERR_FULL && store__grow(s) == 0)
				continue;
			return err_wrap(s->errmsg, sizeof s->errmsg, rc, "apply index %llu",
					(unsigned long long)index);
		}
		rc = mdb_txn_commit(t.txn);
		if (rc == MDB_MAP_FULL && store__grow(s) == 0)
			continue;
		if (rc != 0) {
			/* DESIGN §4.4: a commit I/O error is fatal for the agent. */
			rc = store__lmdb_error(s, rc, "commit");
			return err_wrap(s->errmsg, sizeof s->errmsg, rc, "apply index %llu",
					(unsigned long long)index);
		}
		s->applied = index;
		s->oldest = t.oldest;
		s->digest = t.digest;
		s->commits++;
		return 0;
	}
}

/*
 * Grouped applies. The group keeps a copy of each of its entries, one record
 * each: a header (struct kept) then the entry's bytes, padded to 8 bytes.
 */
struct kept {
	uint64_t index;
	size_t len;
	store_entry_fn fn;
	void *arg;
};

#define KEPT_ALIGN(n) (((n) + 7) & ~(size_t)7)

static int group_keep(struct store *s, uint64_t index, store_entry_fn fn, const void *entry,
		      size_t len, void *arg)
{
	struct kept k = {index, len, fn, arg};
	struct buf *b = &s->group.entries;
	size_t at = b->len, need = KEPT_ALIGN(sizeof k) + KEPT_ALIGN(len);

	if (buf_reserve(b, need) != 0)
		return err_set(s->errmsg, sizeof s->errmsg, ERR_NOMEM,
			       "apply index %llu: copy entry of %zu bytes",
			       (unsigned long long)index, len);
	memset(b->data + at, 0, need);
	memcpy(b->data + at, &k, sizeof k);
	if (len > 0)
		memcpy(b->data + at + KEPT_ALIGN(sizeof k), entry, len);
	b->len = at + need;
	s->group.n++;
	return 0;
}

/* The kept entry at offset *pos (advanced past it); false at the end. */
static bool group_next(struct store *s, size_t *pos, struct kept *k, const void **entry)
{
	const struct buf *b = &s->group.entries;

	if (*pos >= b->len)
		return false;
	memcpy(k, b->data + *pos, sizeof *k);
	*entry = b->data + *pos + KEPT_ALIGN(sizeof *k);
	*pos += KEPT_ALIGN(sizeof *k) + KEPT_ALIGN(k->len);
	return true;
}

/* Aborts the group's transaction (if open) and forgets its running state;
 * the kept entries stay. */
static void group_abort(struct store *s)
{
	if (s->group.txn != NULL)
		mdb_txn_abort(s->group.txn);
	s->group.txn = NULL;
}

/* Aborts the group and forgets its entries. */
static void group_drop(struct store *s)
{
	group_abort(s);
	s->group.entries.len = 0;
	s->group.n = 0;
}

static int group_begin(struct store *s)
{
	int rc;

	rc = mdb_txn_begin(s->env, NULL, 0, &s->group.txn);
	if (rc == MDB_MAP_RESIZED) {
		mdb_env_set_mapsize(s->env, 0);
		rc = mdb_txn_begin(s->env, NULL, 0, &s->group.txn);
	}
	if (rc != 0) {
		s->group.txn = NULL;
		return store__lmdb_error(s, rc, "begin");
	}
	s->group.applied = s->applied;
	s->group.oldest = s->oldest;
	s->group.digest = s->digest;
	return 0;
}

/* Runs one entry in the group's open transaction. */
static int group_run(struct store *s, const struct kept *k, const void *entry)
{
	struct store_txn t;
	int rc;

	memset(&t, 0, sizeof t);
	t.s = s;
	t.txn = s->group.txn;
	t.write = true;
	t.index = k->index;
	t.oldest = s->group.oldest;
	t.digest = s->group.digest;
	rc = k->fn(&t, entry, k->len, k->arg);
	if (rc == 0 && t.err == 0)
		rc = write_digest_row(&t);
	if (t.err != 0)
		rc = t.err;
	if (rc != 0)
		return err_wrap(s->errmsg, sizeof s->errmsg, rc, "apply index %llu",
				(unsigned long long)k->index);
	s->group.applied = k->index;
	s->group.oldest = t.oldest;
	s->group.digest = t.digest;
	return 0;
}

/* Begins the group's transaction again and runs every kept entry, growing
 * the map as often as it fills up. */
static int group_redo(struct store *s)
{
	const void *entry;
	struct kept k;
	size_t pos;
	int rc;

	for (;;) {
		rc = group_begin(s);
		for (pos = 0; rc == 0 && group_next(s, &pos, &k, &entry);)
			rc = group_run(s, &k, entry);
		if (rc == 0)
			return 0;
		group_abort(s);
		if (rc != ERR_FULL)
			return rc;
		rc = store__grow(s);
		if (rc != 0)
			return rc;
	}
}

int store_group_apply(struct store *s, uint64_t index, store_entry_fn fn, const void *entry,
		      size_t len, void *arg)
{
	const void *copy = NULL;
	struct kept k;
	size_t pos;
	int rc;

	if (index <= (s->group.txn != NULL ? s->group.applied : s->applied))
		return 0;
	pos = s->group.entries.len;
	rc = group_keep(s, index, fn, entry, len, arg);
	if (rc != 0)
		goto err;
	if (s->group.txn != NULL) {
		group_next(s, &pos, &k, &copy);
		rc = group_run(s, &k, copy);
		if (rc == 0)
			return 0;
		group_abort(s);
		if (rc != ERR_FULL || (rc = store__grow(s)) != 0)
			goto err;
	}
	/* The first entry of a group, or all of them again in a grown map. */
	rc = group_redo(s);
	if (rc != 0)
		goto err;
	return 0;
err:
	group_drop(s);
	return rc;
}

int store_group_commit(struct store *s)
{
	uint64_t first = 0;
	const void *entry;
	struct kept k;
	size_t pos = 0;
	int rc;

	if (s->group.txn == NULL) {
		group_drop(s);
		return 0;
	}
	for (;;) {
		rc = store__write_state(s, s->group.txn, s->group.applied, s->group.oldest,
					s->group.digest);
		if (rc != 0) {
			group_abort(s);
		} else {
			/* The handle is freed whatever the outcome. */
			rc = mdb_txn_commit(s->group.txn);
			s->group.txn = NULL;
			if (rc == 0)
				break;
			/* DESIGN §4.4: a commit I/O error is fatal for the agent. */
			rc = store__lmdb_error(s, rc, "commit");
		}
		if (rc != ERR_FULL || (rc = store__grow(s)) != 0 || (rc = group_redo(s)) != 0) {
			if (group_next(s, &pos, &k, &entry))
				first = k.index;
			rc = err_wrap(s->errmsg, sizeof s->errmsg, rc, "commit indexes %llu..%llu",
				      (unsigned long long)first,
				      (unsigned long long)s->group.applied);
			group_drop(s);
			return rc;
		}
	}
	s->applied = s->group.applied;
	s->oldest = s->group.oldest;
	s->digest = s->group.digest;
	s->commits++;
	group_drop(s);
	return 0;
}

unsigned store_group_entries(const struct store *s)
{
	return s->group.n;
}

size_t store_group_bytes(const struct store *s)
{
	return s->group.entries.len;
}

int store_read(struct store *s, struct store_txn *t)
{
	int rc;

	memset(t, 0, sizeof *t);
	t->s = s;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
	if (rc == MDB_MAP_RESIZED) {
		mdb_env_set_mapsize(s->env, 0);
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
	}
	if (rc != 0)
		return store__lmdb_error(s, rc, "begin read");
	rc = store__read_state(s, t->txn, &t->index, &t->oldest, &t->digest);
	if (rc != 0) {
		mdb_txn_abort(t->txn);
		t->txn = NULL;
	}
	return rc;
}

void store_read_end(struct store_txn *t)
{
	if (t->txn != NULL)
		mdb_txn_abort(t->txn);
	t->txn = NULL;
}
