/*
 * The nodes service (DESIGN §5): hosts join, leave (remove), drain, go down
 * and come back up; the leader assigns their raft roles. This header also
 * defines the row of TABLE_NODES, which the agent reads (placement, the
 * failure detector, role management).
 *
 * TABLE_NODES: key = node id (u64 big-endian, NODE_KEY_LEN bytes);
 * value = msgpack array, in this order (NODE_ROW_FIELDS fields; decoders
 * ignore extra trailing fields, for forward compatibility):
 *   [id (uint), name (str), raft_addr (str), http_addr (str), role (ROLE_*),
 *    state (NODE_STATE_*), joined_ms (uint), load (uint32)]
 * `load` is the number of this node's processes in state pending or running,
 * kept up to date by every process transition that changes it, so that
 * placement never scans the processes.
 */
#ifndef LOGOS_SERVICES_NODES_H
#define LOGOS_SERVICES_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "services/command.h"

enum node_state {
	NODE_STATE_UP = 0,   /* live: takes new processes */
	NODE_STATE_DOWN,     /* missed heartbeats: its processes were lost */
	NODE_STATE_DRAINING, /* live, but takes no new processes */
	NODE_STATE_LEFT,     /* removed for good; its id is never reused */
	NODE_STATE_COUNT
};

#define NODE_KEY_LEN    8
#define NODE_ROW_FIELDS 8

/* A decoded node row. The strings point into the decoded value (borrowed:
 * valid as long as it is). */
struct node_row {
	uint64_t id;
	struct strref name;
	struct strref raft_addr;
	struct strref http_addr;
	int role;  /* ROLE_* */
	int state; /* NODE_STATE_* */
	uint64_t joined_ms;
	uint32_t load;
};

/* Writes the key of node `id` into `out` (NODE_KEY_LEN bytes). */
void node_key(uint8_t out[NODE_KEY_LEN], uint64_t id);

/* Appends the msgpack value of `r` to `out`. Returns 0 or ERR_NOMEM. */
int node_row_encode(const struct node_row *r, struct buf *out);

/* Decodes a node value of `len` bytes into `r` (which then borrows from
 * `val`). Returns 0, or ERR_CORRUPT for anything malformed: not an array,
 * fewer than NODE_ROW_FIELDS fields, a field of the wrong type or out of
 * range, trailing bytes. Never reads outside [val, val+len). */
int node_row_decode(const void *val, size_t len, struct node_row *r);

/* "up", "down", "draining", "left"; "unknown" otherwise. */
const char *node_state_name(int state);
/* "voter", "standby", "spare"; "unknown" otherwise. */
const char *node_role_name(int role);

#endif /* LOGOS_SERVICES_NODES_H */
