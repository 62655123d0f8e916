/*
 * What the files of statestore/ share: key encodings of the history tables,
 * LMDB error translation, and the low-level write path.
 */
#ifndef LOGOS_STATESTORE_INTERNAL_H
#define LOGOS_STATESTORE_INTERNAL_H

#include <stdint.h>

#include "statestore/store.h"

/* The on-disk format this code reads and writes (meta "state"). */
#define STORE_FORMAT 1

/* Longest LMDB key we build (LMDB's default maximum). */
#define STORE__LMDB_KEY_MAX 511

/* Size of a hist_key key buffer: table + escaped key + terminator + index. */
#define STORE__HKEY_MAX STORE__LMDB_KEY_MAX

/* History value tags. */
enum {
	STORE__ABSENT = 0,
	STORE__PRESENT = 1,
};

/*
 * hist_key keys: [table][key with 0x00 written as 0x00 0xff][0x00 0x00][index,
 * 8 bytes big-endian]. The escape keeps the byte order of keys, and the
 * terminator sorts below any continuation, so all the history of one key is
 * contiguous and ordered by index, and keys sort as the main tables do.
 * Returns the length, or 0 when the result would exceed STORE__HKEY_MAX.
 */
size_t store__hkey(uint8_t *out, int table, const void *key, size_t klen, uint64_t index);

/* The length of the prefix (table, escaped key, terminator) of an hkey. */
size_t store__hkey_prefix_len(size_t hkey_len);

/* Decodes the key part of an hkey into `key` (STORE_KEY_MAX bytes); returns
 * its length, or -1 if malformed. */
int store__hkey_decode(const uint8_t *hk, size_t len, int *table, uint8_t *key, uint64_t *index);

/* hist_index keys: [index][table][raw key]. */
size_t store__ikey(uint8_t *out, uint64_t index, int table, const void *key, size_t klen);

/* The hash of one row, as summed into the digest. */
struct hash128 store__row_hash(int table, const void *key, size_t klen, const void *val,
			       size_t vlen);

/* Translates an LMDB return code into our error space, writing "<op>: <lmdb
 * text>" to the store's message. */
int store__lmdb_error(struct store *s, int rc, const char *op);
/* The same into another message buffer (a snapshot written on another thread
 * must not touch the store's). */
int store__lmdb_error_to(char *errmsg, size_t size, int rc, const char *op);

/* Reads the "state" meta record within `txn`. */
int store__read_state(struct store *s, MDB_txn *txn, uint64_t *applied, uint64_t *oldest,
		      struct hash128 *digest);
/* Writes the "state" meta record within `txn`. */
int store__write_state(struct store *s, MDB_txn *txn, uint64_t applied, uint64_t oldest,
		       struct hash128 digest);

/* Records an LMDB failure in a write transaction (sticky) and returns it. */
int store__txn_fail(struct store_txn *t, int rc, const char *op);

/* Grows the map (no transaction may be open). ERR_FULL at the maximum. */
int store__grow(struct store *s);

/* The parts of a snapshot of common/sm.h over the store's handle (sm.c),
 * shared by the store's adapter and the applier's. */
int store__sm_snapshot_write(struct sm_snapshot *snap, struct buf *out);
const char *store__sm_snapshot_errmsg(struct sm_snapshot *snap);
void store__sm_snapshot_end(struct sm *sm, struct sm_snapshot *snap);

#endif /* LOGOS_STATESTORE_INTERNAL_H */
