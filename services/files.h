/*
 * The file service (DESIGN §5 "files"): a replicated tree of absolute paths
 * to byte values, with a version on every file for compare-and-set. This
 * header defines the row the service writes, so that readers (the agent's
 * `GET /v1/files`, `logos get`, `logos ls`) decode it the same way; the
 * transitions are file_put and file_del in services/internal.h.
 *
 * TABLE_FILES, one row per file:
 *   key   = the path's bytes (absolute and normalized, as validated by the
 *           command decoder: starts with '/', no empty, "." or ".."
 *           component, no trailing '/', no NUL; 1..CMD_PATH_MAX)
 *   value = msgpack [version, modified_index, modified_ms, size, data (bin)]
 * version is 1 when the file is created and goes up by one with each put;
 * a file deleted and created again starts at 1 again (modified_index, the log
 * index of the last put, tells the two apart). modified_ms is the put
 * command's stamped time; size is the length of data.
 *
 * There are no directory rows: directories exist through the paths below
 * them. To list directory D (a path, or "/" for the root), scan TABLE_FILES
 * with the prefix D followed by '/' (just "/" for the root): rows come in
 * byte order of their paths, and every file under D, at any depth, has that
 * prefix, while a sibling such as "/etc2" does not match "/etc/". The
 * immediate entries of D are the rows whose path has no further '/' after the
 * prefix; for a deeper path, the component after the prefix names a
 * subdirectory. `GET /v1/files?prefix=P` is that scan with the raw prefix P.
 *
 * The value is an array with a fixed field order; decoders accept extra
 * trailing fields (added by later versions) and reject anything else with
 * ERR_CORRUPT.
 */
#ifndef LOGOS_SERVICES_FILES_H
#define LOGOS_SERVICES_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "services/command.h"

struct file_row {
	uint64_t version;        /* 1 on create, +1 per put */
	uint64_t modified_index; /* log index of the last put */
	uint64_t modified_ms;    /* time of the last put */
	uint64_t size;           /* == data.n */
	struct binref data;      /* borrowed from the decoded value */
};

/* Appends the encoded row to `out` (its size field is written as data.n).
 * Returns 0 or ERR_NOMEM (then `out` is unchanged). */
int file_row_encode(const struct file_row *r, struct buf *out);

/*
 * Decodes a row value of `len` bytes. Returns 0 or ERR_CORRUPT (malformed, a
 * field of the wrong type, version 0, or a size that is not the data's
 * length). data points into `val` and is valid as long as `val` is.
 */
int file_row_decode(const void *val, size_t len, struct file_row *r);

#endif /* LOGOS_SERVICES_FILES_H */
