/*
 * The command format: the wire format of the replicated log, meant to live for
 * years (DESIGN §2). Every integer field has a fixed position, every length a
 * limit, and decoding is strict: any input either decodes into a `struct cmd`
 * whose fields are within these limits, or is rejected with a clear message.
 * Decoding never allocates; strings and byte ranges point into the input.
 *
 * A log entry is a batch of commands:
 *   entry   := u32 big-endian payload length | payload | zero bytes to a
 *              multiple of 8 (libraft requires 8-byte multiples)
 *   payload := msgpack [ENTRY_VERSION, [bin(command), ...]]   (1..CMD_BATCH_MAX)
 * Each command is its own msgpack blob, so that one malformed command is
 * rejected alone while the others in its batch still apply:
 *   command := [version, type, time_ms, origin, term, request_id,
 *               principal (str), key (str or nil), body (array)]
 * `time_ms` (wall clock, ms), `origin` (node id of the proposer) and `term`
 * are stamped by the proposer: apply never reads a clock (DESIGN §2).
 * `request_id` is chosen by the proposer to find its result (with origin).
 * Bodies are arrays in the field order of the structs below.
 */
#ifndef LOGOS_SERVICES_COMMAND_H
#define LOGOS_SERVICES_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define ENTRY_VERSION 1
#define CMD_VERSION   1

/* Limits (bytes unless said otherwise). */
#define CMD_BATCH_MAX       4096        /* commands per entry */
#define CMD_ENTRY_MAX       (64u << 20) /* bytes per entry */
#define CMD_PRINCIPAL_MAX   64
#define CMD_KEY_MAX         128 /* idempotency key */
#define CMD_ARGV_MAX        256 /* arguments */
#define CMD_ARG_MAX         4096
#define CMD_ENV_MAX         256         /* variables */
#define CMD_ARGS_TOTAL_MAX  (64u << 10) /* argv and env together */
#define CMD_CWD_MAX         1024
#define CMD_NAME_MAX        64 /* node names */
#define CMD_ADDR_MAX        128
#define CMD_QUEUE_MAX       128 /* queue names: [A-Za-z0-9._-] */
#define CMD_MESSAGE_MAX     (1u << 20)
#define CMD_PATH_MAX        200 /* file paths: absolute, normalized, no NUL */
#define CMD_FILE_MAX        (1u << 20)
#define CMD_CHUNK_MAX       (64u << 10) /* one output chunk */
#define CMD_STEP_NAME_MAX   128
#define CMD_STEP_OUTPUT_MAX (64u << 10)
#define CMD_REASON_MAX      256
#define CMD_COUNT_MAX       10000 /* copies of a process in one proc.submit */

enum cmd_type {
	CMD_PROC_SUBMIT = 1,
	CMD_PROC_STARTED,
	CMD_PROC_OUTPUT,
	CMD_PROC_EXITED,
	CMD_PROC_KILL,
	CMD_PROC_LOST,
	CMD_STEP_RECORD,
	CMD_MSG_SEND,
	CMD_MSG_RECV,
	CMD_FILE_PUT,
	CMD_FILE_DEL,
	CMD_NODE_JOIN,
	CMD_NODE_REMOVE,
	CMD_NODE_DRAIN,
	CMD_NODE_DOWN,
	CMD_NODE_UP,
	CMD_NODE_ROLE,
	CMD_REWIND,
	CMD_COMPACT,
	CMD_NOOP, /* Applies nothing; used by barriers and tests. */
	CMD_TYPE_COUNT
};

enum {
	PLACE_ANY = 0,
	PLACE_NODE,
	PLACE_ALL
};
enum {
	RESTART_NO = 0,
	RESTART_ON_FAILURE,
	RESTART_ALWAYS
};
enum {
	STREAM_STDOUT = 1,
	STREAM_STDERR = 2
};
enum {
	ROLE_VOTER = 0,
	ROLE_STANDBY,
	ROLE_SPARE
};

/* Borrowed ranges of the input. Strings are not NUL-terminated and contain no
 * NUL byte (the decoder rejects them). */
struct strref {
	const char *p;
	size_t n;
};
struct binref {
	const uint8_t *p;
	size_t n;
};
/* A validated msgpack value (array or map) copied as is into rows. */
struct rawref {
	const uint8_t *p;
	size_t n;
	uint32_t count; /* elements (array) or pairs (map) */
};

struct cmd_proc_submit {
	struct rawref argv;    /* array of 1..CMD_ARGV_MAX non-empty str */
	struct rawref env;     /* map str → str, 0..CMD_ENV_MAX pairs; names non-empty, no '=' */
	struct strref cwd;     /* empty: the agent's default */
	int placement;         /* PLACE_* */
	struct strref node;    /* node name, PLACE_NODE only (else empty) */
	int restart;           /* RESTART_* */
	uint32_t max_restarts; /* on-failure: restarts allowed; 0 = unlimited */
	uint64_t timeout_ms;   /* 0: none */
	/* Copies of the process, each its own pid and placement (0 or 1: one;
	 * at most CMD_COUNT_MAX; more than one only with PLACE_ANY or
	 * PLACE_NODE). An optional trailing body field: a body of the first 8
	 * fields decodes with count 0, and count 0 is encoded without it, so
	 * the bytes of a single submission are those of before. */
	uint32_t count;
};

struct cmd_proc_started {
	uint64_t pid;
	uint32_t attempt;
	uint64_t os_pid;
};

struct cmd_proc_output {
	uint64_t pid;
	uint32_t attempt;
	int stream;         /* STREAM_* */
	uint64_t seq;       /* per (pid, attempt, stream), from 0: duplicates are ignored */
	struct binref data; /* 1..CMD_CHUNK_MAX bytes */
};

struct cmd_proc_exited {
	uint64_t pid;
	uint32_t attempt;
	int32_t exit_code; /* -1 when killed by a signal */
	int32_t signal;    /* 0 when it exited */
};

struct cmd_proc_kill {
	uint64_t pid;
	int32_t signal; /* 1..64 */
};

struct cmd_proc_lost {
	uint64_t pid;
	uint32_t attempt;
	struct strref reason;
};

struct cmd_step_record {
	uint64_t pid;
	uint32_t attempt;
	struct strref name;
	int32_t exit_code;
	struct binref output;
};

struct cmd_msg_send {
	struct strref queue;
	struct binref data; /* 0..CMD_MESSAGE_MAX bytes */
};

struct cmd_msg_recv {
	struct strref queue;
};

struct cmd_file_put {
	struct strref path;
	struct binref data;
	int64_t if_version; /* -1: unconditional; 0: must not exist; V: must be at V */
};

struct cmd_file_del {
	struct strref path;
	int64_t if_version;
};

struct cmd_node_join {
	uint64_t id; /* 0: assign the next id; else this id (the bootstrap node) */
	struct strref name;
	struct strref raft_addr;
	struct strref http_addr;
};

struct cmd_node {
	uint64_t node; /* remove, drain, down, up */
};

struct cmd_node_role {
	uint64_t node;
	int role; /* ROLE_* */
};

struct cmd_history {
	uint64_t target; /* rewind, compact */
};

struct cmd {
	uint32_t version;
	uint32_t type; /* enum cmd_type */
	uint64_t time_ms;
	uint64_t origin;
	uint64_t term;
	uint64_t request_id;
	struct strref principal;
	struct strref key;  /* p == NULL: no idempotency key */
	struct binref body; /* the body's msgpack bytes, as decoded */
	union {
		struct cmd_proc_submit submit;
		struct cmd_proc_started started;
		struct cmd_proc_output output;
		struct cmd_proc_exited exited;
		struct cmd_proc_kill kill;
		struct cmd_proc_lost lost;
		struct cmd_step_record step;
		struct cmd_msg_send send;
		struct cmd_msg_recv recv;
		struct cmd_file_put put;
		struct cmd_file_del del;
		struct cmd_node_join join;
		struct cmd_node node;
		struct cmd_node_role role;
		struct cmd_history history;
	} u;
};

/* The name of a command type ("proc.submit", ...), or NULL if unknown. */
const char *cmd_type_name(uint32_t type);

/*
 * Encodes one command (appended to `out`). The fields must be within the
 * limits above; rawref fields must hold valid msgpack (as built with
 * common/pack.h). Returns 0, ERR_NOMEM, or ERR_INVALID for an out-of-limit
 * field (nothing appended).
 */
int cmd_encode(const struct cmd *c, struct buf *out);

/*
 * Decodes one command of `len` bytes. Returns 0, or ERR_CORRUPT (malformed
 * msgpack, trailing bytes), ERR_INVALID (wrong types, field values out of
 * range, unknown type), ERR_TOOBIG (a length over its limit) or
 * ERR_UNSUPPORTED (another version), with a message in `err` (NUL-terminated,
 * of `errlen` bytes). Never reads outside [buf, buf+len).
 */
int cmd_decode(const void *buf, size_t len, struct cmd *c, char *err, size_t errlen);

/* Building an entry: begin, add encoded commands, finish. */
struct entry_builder {
	struct buf *out;
	size_t start;    /* where the entry starts in out */
	size_t count_at; /* where the array header is */
	uint32_t count;
};

int entry_begin(struct entry_builder *b, struct buf *out);
/* Adds one encoded command (as from cmd_encode). ERR_TOOBIG past the limits. */
int entry_add(struct entry_builder *b, const void *cmd, size_t len);
/* Completes the entry: fixes the header and pads to a multiple of 8. */
int entry_finish(struct entry_builder *b);

/* Reading an entry. */
struct entry_reader {
	const uint8_t *p;
	const uint8_t *end;
	uint32_t count; /* commands in the entry */
	uint32_t left;  /* commands not yet read */
};

/*
 * Opens an entry for reading. Returns 0, or ERR_CORRUPT / ERR_UNSUPPORTED /
 * ERR_TOOBIG with a message: then the entry as a whole is rejected.
 */
int entry_open(struct entry_reader *r, const void *buf, size_t len, char *err, size_t errlen);
/* The next command's bytes: 0, ERR_NOTFOUND at the end, ERR_CORRUPT. */
int entry_next(struct entry_reader *r, const void **cmd, size_t *len);
/* Number of commands in the entry. */
uint32_t entry_count(const struct entry_reader *r);

#endif /* LOGOS_SERVICES_COMMAND_H */
