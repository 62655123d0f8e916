/*
 * The state store: all replicated cluster state in one LMDB environment, with
 * history (DESIGN §4).
 *
 * Tables are named LMDB databases with compact binary keys. Versioned tables
 * hold the cluster's state: every put or delete made while applying index I
 * records the row's prior value keyed by (table, key, I), so that
 *   - a read as of index N is one ordered seek per row, whatever the length of
 *     the history (the first change after N holds the value at N);
 *   - rewind(N), applied at R, restores every row changed in (N, R] to its value
 *     at N and records those restorations as history of R (so a rewind can be
 *     rewound);
 *   - compact(N) drops history at or below N; reads below the oldest readable
 *     index fail with ERR_RANGE, never with a silently wrong answer.
 * Unversioned tables (command results, the audit log) are bookkeeping: they are
 * not rewound and not part of the digest.
 *
 * The digest is the sum modulo 2^128 of a 128-bit hash of every (table, key,
 * value) of the versioned tables, maintained incrementally by every write and
 * stored with the applied index in the same transaction as the batch that
 * produced it (DESIGN §4.3, §4.4).
 *
 * Threading: a store is used from one thread. A read transaction may be open
 * while no write is in progress; store_apply() must not be called while a read
 * transaction of this process is open (growing the map needs that).
 */
#ifndef LOGOS_STATESTORE_STORE_H
#define LOGOS_STATESTORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>
#include <pthread.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/sm.h"
#include "common/tables.h"

/* The tables are those of common/tables.h, under the store's names. */
enum store_table {
	STORE_NODES = TABLE_NODES,
	STORE_PROCS = TABLE_PROCS,
	STORE_OUTPUT = TABLE_OUTPUT,
	STORE_STEPS = TABLE_STEPS,
	STORE_QUEUES = TABLE_QUEUES,
	STORE_MESSAGES = TABLE_MESSAGES,
	STORE_FILES = TABLE_FILES,
	STORE_IDEM = TABLE_IDEM,
	STORE_N_VERSIONED = TABLE_N_VERSIONED,
	STORE_RESULTS = TABLE_RESULTS,
	STORE_LOG = TABLE_LOG,
	STORE_COUNTERS = TABLE_COUNTERS,
	STORE_N_TABLES = TABLE_COUNT
};

/* Read the newest state (in a write transaction: including its own writes). */
#define STORE_AT_LATEST UINT64_MAX

/* Longest key accepted in any table, in bytes. (LMDB's limit is 511; history
 * keys add a table byte, an index and an escape of zero bytes, so the actual
 * limit depends on the key: store_put() reports ERR_TOOBIG past it.) */
#define STORE_KEY_MAX 240

struct store_txn;

/* The work of applying one log entry (see store_sm_init). */
typedef int (*store_entry_fn)(struct store_txn *t, const void *entry, size_t len, void *arg);

struct store_options {
	size_t map_size;     /* Initial map size; 0: 64 GiB (sparse). */
	size_t map_size_max; /* Growth stops here (then ERR_FULL); 0: 1 TiB. */
};

struct store {
	MDB_env *env;
	MDB_dbi tables[STORE_N_TABLES];
	MDB_dbi meta;       /* "state" → format, applied, oldest, digest */
	MDB_dbi hist_key;   /* (table, escaped key, index) → tag + prior value */
	MDB_dbi hist_index; /* (index, table, key) → empty */
	MDB_dbi digests;    /* index → digest after that index */
	size_t map_size;
	size_t map_size_max;
	unsigned grows;     /* Times the map was grown (for metrics and tests). */
	uint64_t commits;   /* Apply transactions committed (metrics, tests). */
	struct buf scratch; /* Reused copy space for writes and rewinds. */
	/* Cached from the last committed transaction. */
	uint64_t applied;
	uint64_t oldest;
	struct hash128 digest;
	/*
	 * The open group of store_group_apply(): its write transaction (NULL
	 * when none is open), the running applied index, oldest index and
	 * digest including its entries, and copies of its entries, to run them
	 * again after growing a full map.
	 */
	struct {
		MDB_txn *txn;
		uint64_t applied;
		uint64_t oldest;
		struct hash128 digest;
		struct buf entries;
		unsigned n;
	} group;
	/*
	 * A snapshot being written on another thread (store_snapshot_begin):
	 * while `snap_reading`, a growth of the map waits on snap_cv (LMDB
	 * cannot remap under a reader). Guarded by snap_mu.
	 */
	pthread_mutex_t snap_mu;
	pthread_cond_t snap_cv;
	bool snap_reading;
	bool snap_open; /* a handle is out (loop thread only) */
	/* The state-machine adapter (statestore/sm.c). */
	store_entry_fn entry_fn;
	void *entry_arg;
	char errmsg[512];
};

/*
 * A transaction: read-only (store_read) or the write transaction of one
 * applied index (inside store_apply, or one entry of a group in
 * store_group_apply). Values and keys returned by reads are
 * borrowed from LMDB and valid until the next write in the transaction or its
 * end.
 */
struct store_txn {
	struct store *s;
	MDB_txn *txn;
	bool write;
	uint64_t index;        /* write: the index being applied; read: applied */
	uint64_t oldest;       /* Oldest readable index. */
	struct hash128 digest; /* Digest including this transaction's writes. */
	int err;               /* First storage error (sticky, write only). */
};

/*
 * Opens (creating if needed, mode 0700) the store in directory `path`.
 * `opts` may be NULL. Errors: ERR_IO, ERR_DENIED, ERR_CORRUPT (not a logos
 * store or damaged), ERR_UNSUPPORTED (a newer format), ERR_NOMEM; the message
 * is in s->errmsg and `s` needs no close.
 */
int store_open(struct store *s, const char *path, const struct store_options *opts);
/* Closes the store. A group still open is aborted, not committed (as if the
 * process had died). */
void store_close(struct store *s);

/* Cached metadata of the last committed transaction. */
uint64_t store_applied_index(const struct store *s);
uint64_t store_oldest_index(const struct store *s);
struct hash128 store_digest(const struct store *s);

/*
 * Applies index `index`: opens the write transaction, calls fn(txn, arg), and
 * commits its writes together with the new applied index and digest. An index
 * at or below the applied index is skipped (returns 0, fn not called). A group
 * still open (store_group_apply) is committed first.
 *
 * fn must be a pure function of the state it reads and of `arg`: when the map
 * fills up, the transaction is aborted, the map grown, and fn called again.
 * fn returns 0 (its business rejections are data it writes, never errors) or
 * an environmental error, which aborts the transaction and is returned.
 * Errors: ERR_FULL (the map cannot grow further), ERR_IO (commit failed: the
 * caller must stop, DESIGN §4.4), ERR_NOMEM, or what fn returned.
 */
typedef int (*store_apply_fn)(struct store_txn *t, void *arg);
int store_apply(struct store *s, uint64_t index, store_apply_fn fn, void *arg);

/*
 * Group commit (DESIGN §4.4: the raft log is the source of durability, so the
 * entries of a loop turn may share one synced commit). Applies index `index`
 * as store_apply() does, with fn(txn, entry, len, arg) as its work, but in the
 * group's write transaction (begun by the first entry) and without committing
 * it. `entry` is copied: if the map fills up, at this entry or at the commit,
 * the transaction is aborted, the map grown, and every entry of the group run
 * again in order, so fn must be a pure function of the state and its
 * arguments, and `arg` must stay valid until the group ends. An index at or
 * below the last one applied (in the group, or committed) is skipped.
 *
 * Until store_group_commit() nothing of the group is visible outside it:
 * readers, store_applied_index() and store_digest() see the last committed
 * state, and a store closed before the commit (a crash) reopens at the last
 * committed index with its digest. Each entry stays all or nothing: on any
 * error the whole group is aborted (the store is back at its last commit) and
 * the error returned, as store_apply's (then the caller must stop; the raft
 * log still holds the entries).
 */
int store_group_apply(struct store *s, uint64_t index, store_entry_fn fn, const void *entry,
		      size_t len, void *arg);

/*
 * Commits the open group, if any, in one synced LMDB commit, with the applied
 * index, oldest index and digest of its last entry. 0 when no group is open.
 * Errors: ERR_FULL (the map cannot grow further), ERR_IO (DESIGN §4.4: the
 * caller must stop), ERR_NOMEM, or what an entry's fn returned when run again;
 * the group is then aborted.
 */
int store_group_commit(struct store *s);

/* Entries and bytes of entries in the open group (0 when none). */
unsigned store_group_entries(const struct store *s);
size_t store_group_bytes(const struct store *s);

/* Begins a read transaction over the latest committed state. */
int store_read(struct store *s, struct store_txn *t);
/* Ends a read transaction. */
void store_read_end(struct store_txn *t);

/*
 * Reads the value of `key` in `table` as of index `at` (or STORE_AT_LATEST).
 * Returns 0 and sets *val and *len (borrowed), ERR_NOTFOUND when the row did not
 * exist then, ERR_RANGE when `at` is below the oldest readable index or above
 * the transaction's index (the message gives the readable range), ERR_INVALID
 * for a bad table. An empty or over-long key is simply not there (ERR_NOTFOUND),
 * so that a name from a user is a rejection, never an apply failure.
 */
int store_get(struct store_txn *t, int table, const void *key, size_t klen, uint64_t at,
	      const void **val, size_t *len);

/* An ordered scan of one table as of an index (see store_iter_init). */
struct store_iter {
	struct store_txn *t;
	int table;
	uint64_t at;
	MDB_cursor *main;
	MDB_cursor *hist; /* Walks distinct keys in the history (NULL when latest). */
	MDB_cursor *seek; /* Finds a key's value at `at`. */
	bool main_done, hist_done;
	bool advance_main, advance_hist; /* Deferred moves past the last row. */
	MDB_val mk, mv;                  /* Current row of main. */
	uint8_t hk[STORE_KEY_MAX];
	size_t hklen; /* Current distinct key of hist. */
	const uint8_t *prefix;
	size_t plen;
	uint8_t prefix_copy[STORE_KEY_MAX];
};

/*
 * Starts a scan of the rows of `table` whose key begins with `prefix` (plen may
 * be 0), in key order, as they were at index `at`. Each row costs one ordered
 * seek in the history. Errors as store_get.
 */
int store_iter_init(struct store_iter *it, struct store_txn *t, int table, const void *prefix,
		    size_t plen, uint64_t at);
/* Moves to the first row whose key is >= `key` (and has the prefix). */
int store_iter_seek(struct store_iter *it, const void *key, size_t klen);
/* The next row: 0, or ERR_NOTFOUND at the end. Key and value are borrowed
 * until the next call. */
int store_iter_next(struct store_iter *it, const void **key, size_t *klen, const void **val,
		    size_t *vlen);
void store_iter_close(struct store_iter *it);

/*
 * Writes (write transactions only). A versioned write records the row's prior
 * value as history of the transaction's index and updates the digest; writing
 * a row's current value again changes nothing. Deleting an absent row is a
 * no-op. `key` and `val` must not point into the store (copy values read in
 * the same transaction first). Errors: ERR_INVALID (bad table, read-only transaction, empty key),
 * ERR_TOOBIG (key too long), ERR_FULL, ERR_IO.
 */
int store_put(struct store_txn *t, int table, const void *key, size_t klen, const void *val,
	      size_t vlen);
int store_del(struct store_txn *t, int table, const void *key, size_t klen);

/*
 * Restores every versioned row changed after index `target` to its value at
 * `target`, as writes of this transaction's index. ERR_RANGE if `target` is
 * below the oldest readable index or not below this transaction's index.
 * Afterwards the digest equals the digest at `target`.
 */
int store_rewind(struct store_txn *t, uint64_t target);

/*
 * Drops the history at or below `target`, which becomes the oldest readable
 * index. A target at or below the current oldest index is a no-op. ERR_RANGE
 * if `target` is not below this transaction's index.
 */
int store_compact(struct store_txn *t, uint64_t target);

/* The digest of the state as of index `at`. Errors: ERR_RANGE. */
int store_digest_at(struct store_txn *t, uint64_t at, struct hash128 *d);

/*
 * Appends a snapshot of the whole store (state, history, bookkeeping) to `out`.
 * The snapshot is self-checking (a hash over all of it). A group still open is
 * committed first, so the snapshot holds every entry applied.
 */
int store_snapshot(struct store *s, struct buf *out);

/*
 * The same snapshot in three parts, so that the serialisation can run on
 * another thread while the store goes on applying on its own
 * (consensus/snapshot.c). store_snapshot_begin fixes the state as of now (a
 * group still open is committed first; a read transaction holds that state).
 * store_snapshot_write appends it to `out`; it may run on any one thread,
 * concurrently with every other call on the store, and touches nothing but
 * the handle (its errors: store_snapshot_errmsg). store_snapshot_end releases
 * the handle, written or not, on the store's thread. One handle at a time
 * (ERR_BUSY). While one is out and not yet written, a growth of the map waits
 * for the write to end (LMDB cannot remap the file under a reader).
 */
struct store_snapshot;
int store_snapshot_begin(struct store *s, struct store_snapshot **snap);
int store_snapshot_write(struct store_snapshot *snap, struct buf *out);
const char *store_snapshot_errmsg(const struct store_snapshot *snap);
void store_snapshot_end(struct store_snapshot *snap);

/*
 * Replaces the whole store with a snapshot, atomically: the snapshot is fully
 * validated (structure, hash, digest of its rows) and loaded in one
 * transaction; on any error the store is unchanged. A group still open is
 * committed first. A snapshot of a state the store has already applied (its
 * index at or below the applied index, with the store's digest at that index)
 * changes nothing: raft hands its last snapshot over at every start.
 * Errors: ERR_CORRUPT (with what is wrong), ERR_UNSUPPORTED, ERR_FULL, ERR_IO.
 */
int store_restore(struct store *s, const void *buf, size_t len);

/*
 * The state-machine interface (common/sm.h) over this store. Each log entry is
 * applied as store_apply(index) with fn(txn, entry bytes, entry length, arg)
 * as the transaction's work.
 */
void store_sm_init(struct store *s, struct sm *sm, store_entry_fn fn, void *arg);

/* Name of a table ("procs", ...), or NULL for an invalid one. */
const char *store_table_name(int table);

static inline bool store_table_is_versioned(int table)
{
	return table >= 0 && table < STORE_N_VERSIONED;
}

#endif /* LOGOS_STATESTORE_STORE_H */
