/*
 * The message-queue service (DESIGN §5 "msg"): named FIFO queues with an
 * atomic dequeue through the log. This header defines the rows the service
 * writes, so that readers (the agent's `GET /v1/queues`, `logos at N ...`)
 * decode them the same way; the transitions themselves are msg_send and
 * msg_recv in services/internal.h.
 *
 * TABLE_QUEUES, one row per queue that was ever sent to:
 *   key   = the queue name's bytes ([A-Za-z0-9._-], 1..CMD_QUEUE_MAX)
 *   value = msgpack [head_seq, next_seq, count, bytes]
 * The messages of a queue are exactly the sequence numbers
 * head_seq..next_seq-1 (FIFO: recv always takes head_seq), so
 * count == next_seq - head_seq. Sequence numbers start at 1 and are never
 * reused within a queue. A queue emptied by recv keeps its row (count 0), so
 * that listings still show it and its numbering goes on; nothing deletes a
 * queue row today.
 *
 * TABLE_MESSAGES, one row per message not yet received:
 *   key   = [name length u8][name][seq u64 big-endian]
 *   value = msgpack [sent_ms, origin, data (bin)]
 * sent_ms and origin are the send command's stamped time and proposing node.
 * The length prefix keeps "job" from matching "jobs" in a prefix scan, and the
 * big-endian seq makes key order the delivery order: scanning the prefix
 * message_key_prefix() lists a queue's messages oldest first.
 *
 * `bytes` counts the message data only (not the row encoding); the limits
 * below apply per queue.
 *
 * Values are arrays with a fixed field order; decoders accept extra trailing
 * fields (added by later versions) and reject anything else with ERR_CORRUPT.
 */
#ifndef LOGOS_SERVICES_MSG_H
#define LOGOS_SERVICES_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "services/command.h"

#define QUEUE_MESSAGES_MAX 100000u      /* messages per queue */
#define QUEUE_BYTES_MAX    (256u << 20) /* bytes of message data per queue */

/* The longest message key: length byte, name, seq. */
#define MESSAGE_KEY_MAX (1 + CMD_QUEUE_MAX + 8)

struct queue_row {
	uint64_t head_seq; /* the next seq to deliver */
	uint64_t next_seq; /* the next seq to assign */
	uint64_t count;    /* messages in the queue */
	uint64_t bytes;    /* their data bytes */
};

struct message_row {
	uint64_t sent_ms;
	uint64_t origin;
	struct binref data; /* borrowed from the decoded value */
};

/*
 * Appends the encoded row to `out`. Returns 0 or ERR_NOMEM (then `out` is
 * unchanged).
 */
int queue_row_encode(const struct queue_row *r, struct buf *out);
int message_row_encode(const struct message_row *r, struct buf *out);

/*
 * Decodes a row value of `len` bytes. Returns 0 or ERR_CORRUPT (malformed, a
 * field of the wrong type, or head_seq > next_seq). message_row's data points
 * into `val` and is valid as long as `val` is.
 */
int queue_row_decode(const void *val, size_t len, struct queue_row *r);
int message_row_decode(const void *val, size_t len, struct message_row *r);

/*
 * Writes the key of message `seq` of queue `name` (`n` bytes,
 * 1..CMD_QUEUE_MAX) into `out`, of at least MESSAGE_KEY_MAX bytes, and
 * returns its length. message_key_prefix writes the prefix shared by all the
 * messages of the queue (the key without the seq).
 */
size_t message_key(uint8_t *out, const char *name, size_t n, uint64_t seq);
size_t message_key_prefix(uint8_t *out, const char *name, size_t n);

/*
 * Splits a message key. Returns 0 with `name` pointing into `key`, or
 * ERR_CORRUPT if the key is not of the form above.
 */
int message_key_decode(const void *key, size_t klen, struct strref *name, uint64_t *seq);

#endif /* LOGOS_SERVICES_MSG_H */
