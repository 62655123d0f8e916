/*
 * The process service (DESIGN §5): submit, started, output, exited, kill and
 * lost, as pure transitions (services/internal.h). This header defines the
 * rows of TABLE_PROCS and TABLE_OUTPUT, which the agent's reconciler and the
 * API read.
 *
 * TABLE_PROCS: key = pid (u64 big-endian, PROC_KEY_LEN bytes); value =
 * msgpack array, in this order (PROC_ROW_FIELDS fields; decoders ignore
 * extra trailing fields, for forward compatibility):
 *   [pid, argv (array of str, as submitted), env (map str → str), cwd (str),
 *    placement (PLACE_*), node (id; 0: pending with no live node), restart
 *    (RESTART_*), max_restarts, restarts (used so far), timeout_ms, state
 *    (PROC_STATE_*), attempt (from 1), exit_code (int), signal (int), os_pid,
 *    submitted_ms, started_ms, ended_ms (0 until set), output_bytes (stored
 *    so far, all attempts), output_truncated (bool), kill_signal (0, or the
 *    signal a kill asked for)]
 *
 * TABLE_OUTPUT: key = [pid u64][attempt u32][stream u8][seq u64], all
 * big-endian (OUTPUT_KEY_LEN bytes), so a prefix scan by pid or (pid,
 * attempt) returns the output in order; value = the raw bytes of the chunk.
 *
 * Only the current attempt of a process may be running: an agent that finds
 * an attempt of its own that is not the current one (or whose process has
 * ended) stops it (DESIGN §2, effects are level-triggered).
 */
#ifndef LOGOS_SERVICES_PROC_H
#define LOGOS_SERVICES_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "services/command.h"

/* Output stored per process, all attempts and streams together. Output
 * beyond it is dropped and the process is marked output_truncated. */
#define PROC_OUTPUT_CAP (8u << 20)

enum proc_state {
	PROC_STATE_PENDING = 0, /* placed (or waiting for a live node), not started */
	PROC_STATE_RUNNING,
	PROC_STATE_EXITED, /* exit code 0 */
	PROC_STATE_FAILED, /* non-zero exit code, or died of a signal */
	PROC_STATE_KILLED, /* ended after a kill */
	PROC_STATE_LOST,   /* its host went down or its agent restarted */
	PROC_STATE_COUNT
};

#define PROC_KEY_LEN    8
#define OUTPUT_KEY_LEN  21
#define PROC_ROW_FIELDS 21

/* A decoded process row. argv, env and cwd point into the decoded value
 * (borrowed: valid as long as it is). */
struct proc_row {
	uint64_t pid;
	struct rawref argv; /* msgpack array of str */
	struct rawref env;  /* msgpack map str → str */
	struct strref cwd;
	int placement; /* PLACE_* */
	uint64_t node;
	int restart; /* RESTART_* */
	uint32_t max_restarts;
	uint32_t restarts;
	uint64_t timeout_ms;
	int state; /* PROC_STATE_* */
	uint32_t attempt;
	int32_t exit_code;
	int32_t signal;
	uint64_t os_pid;
	uint64_t submitted_ms;
	uint64_t started_ms;
	uint64_t ended_ms;
	uint64_t output_bytes;
	bool output_truncated;
	int32_t kill_signal;
};

/* Writes the key of process `pid` into `out`. */
void proc_key(uint8_t out[PROC_KEY_LEN], uint64_t pid);

/* Writes the key of an output chunk into `out`. */
void output_key(uint8_t out[OUTPUT_KEY_LEN], uint64_t pid, uint32_t attempt, int stream,
		uint64_t seq);

/* Splits an output key. Returns 0, or ERR_CORRUPT if `len` is not
 * OUTPUT_KEY_LEN. Any output pointer may be NULL. */
int output_key_parse(const void *key, size_t len, uint64_t *pid, uint32_t *attempt, int *stream,
		     uint64_t *seq);

/* Appends the msgpack value of `r` to `out`; an empty argv or env is written
 * as an empty array or map. Returns 0 or ERR_NOMEM. */
int proc_row_encode(const struct proc_row *r, struct buf *out);

/* Decodes a process value of `len` bytes into `r` (which then borrows from
 * `val`). Returns 0, or ERR_CORRUPT for anything malformed: not an array,
 * fewer than PROC_ROW_FIELDS fields, a field of the wrong type or out of
 * range, trailing bytes. Never reads outside [val, val+len). */
int proc_row_decode(const void *val, size_t len, struct proc_row *r);

/* True once the process has ended for good (exited, failed, killed, lost):
 * it will not run again. */
bool proc_is_ended(int state);

/* "pending", "running", "exited", "failed", "killed", "lost"; "unknown"
 * otherwise. */
const char *proc_state_name(int state);

#endif /* LOGOS_SERVICES_PROC_H */
