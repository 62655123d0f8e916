/*
 * The wire format of forwarded batches (DESIGN §2): a follower sends the
 * commands it has queued to the leader as one POST /v1/internal/propose_batch
 * (agent/http_internal.h), the leader answers every command's result in the
 * same order. Pure functions, no I/O; every length read is checked against
 * what remains, so a truncated or inflated body is an error, never a read
 * past its end.
 *
 * All integers are big-endian.
 *   commands := u32 n (1..CMD_BATCH_MAX), n × (u32 len (>= 1), len bytes of
 *               a command as cmd_encode writes it)
 *   results  := u32 n, n × (i32 status, u64 index, i64 code,
 *               u32 message_len, message bytes, u32 result_len, result bytes
 *               (msgpack map), u16 leader_len, leader bytes (with a final
 *               NUL; 0: no leader known))
 * Nothing may follow the last element.
 */
#ifndef LOGOS_AGENT_FORWARD_H
#define LOGOS_AGENT_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "common/buf.h"

/* Bytes of the commands' framing: the count, and each command's length. */
#define FORWARD_HEAD_LEN 4u
#define FORWARD_ITEM_LEN 4u

/* Writing: forward_begin appends the count (0), each forward_add_* appends
 * one element and counts it. Return 0 or ERR_NOMEM (ERR_INVALID for a
 * leader address longer than 65534 bytes). */
int forward_begin(struct buf *b);
int forward_add_cmd(struct buf *b, const void *cmd, size_t len);
int forward_add_result(struct buf *b, const struct agent_result *r);
/* For results encoded apart and joined later: forward_put_result appends
 * one result without counting it; forward_set_count sets the count of a body
 * begun with forward_begin. */
int forward_put_result(struct buf *b, const struct agent_result *r);
void forward_set_count(struct buf *b, uint32_t n);

/* Reading: a cursor over a whole body (borrowed; must outlive the cursor). */
struct forward_reader {
	const uint8_t *p;
	size_t left;
	uint32_t n; /* elements in the body */
	uint32_t i; /* elements read */
};

/*
 * Checks a whole commands body (count within 1..CMD_BATCH_MAX, every length
 * within what remains, nothing after the last) before anything is read from
 * it. Returns 0 with the cursor at the first command, or ERR_INVALID with the
 * reason in err. The commands themselves are not decoded.
 */
int forward_cmds_open(struct forward_reader *rd, const void *body, size_t len, char *err,
		      size_t errlen);
/* The next command (borrowed from the body): 0, or ERR_NOTFOUND after the
 * last. */
int forward_cmds_next(struct forward_reader *rd, const void **cmd, size_t *len);

/*
 * Checks a whole results body as forward_cmds_open does, and that it holds
 * exactly `expect` results. Returns 0 or ERR_CORRUPT with the reason in err.
 */
int forward_results_open(struct forward_reader *rd, const void *body, size_t len, uint32_t expect,
			 char *err, size_t errlen);
/* The next result: 0 with *r filled (message, result and leader_http
 * borrowed from the body), or ERR_NOTFOUND after the last. */
int forward_results_next(struct forward_reader *rd, struct agent_result *r);

#endif /* LOGOS_AGENT_FORWARD_H */
