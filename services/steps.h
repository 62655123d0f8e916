/*
 * The step service (DESIGN §5 "steps", durable execution): `logos step NAME
 * -- PROGRAM` inside a logos process records the outcome of step NAME once;
 * a later attempt of the same process replays the recorded exit code and
 * output instead of running PROGRAM again. This header defines the row the
 * service writes, so that readers decode it the same way; the transition is
 * step_record in services/internal.h.
 *
 * TABLE_STEPS, one row per completed step:
 *   key   = [pid u64 big-endian][name] (name 1..CMD_STEP_NAME_MAX bytes)
 *   value = msgpack [exit_code (int), output (bin), attempt, recorded_ms]
 * attempt is the attempt of the process that recorded the step and
 * recorded_ms the record command's stamped time. The first record of a step
 * wins; later records leave the row as it is. Scanning the 8-byte prefix of a
 * pid lists that process's steps in byte order of their names.
 *
 * The value is an array with a fixed field order; decoders accept extra
 * trailing fields (added by later versions) and reject anything else with
 * ERR_CORRUPT.
 */
#ifndef LOGOS_SERVICES_STEPS_H
#define LOGOS_SERVICES_STEPS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "services/command.h"

/* The longest step key: pid, name. */
#define STEP_KEY_MAX (8 + CMD_STEP_NAME_MAX)

struct step_row {
	int32_t exit_code;
	struct binref output; /* borrowed from the decoded value */
	uint32_t attempt;     /* the attempt that recorded the step */
	uint64_t recorded_ms;
};

/* Appends the encoded row to `out`. Returns 0 or ERR_NOMEM (then `out` is
 * unchanged). */
int step_row_encode(const struct step_row *r, struct buf *out);

/*
 * Decodes a row value of `len` bytes. Returns 0 or ERR_CORRUPT (malformed, a
 * field of the wrong type or out of range). output points into `val` and is
 * valid as long as `val` is.
 */
int step_row_decode(const void *val, size_t len, struct step_row *r);

/* Writes the key of step `name` (`n` bytes, 1..CMD_STEP_NAME_MAX) of process
 * `pid` into `out`, of at least STEP_KEY_MAX bytes, and returns its length. */
size_t step_key(uint8_t *out, uint64_t pid, const char *name, size_t n);

/* Splits a step key. Returns 0 with `name` pointing into `key`, or
 * ERR_CORRUPT if the key is too short to hold a pid and a name. */
int step_key_decode(const void *key, size_t klen, uint64_t *pid, struct strref *name);

#endif /* LOGOS_SERVICES_STEPS_H */
