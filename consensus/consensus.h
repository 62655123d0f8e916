/*
 * A libraft node on raft_uv (DESIGN §2, §3): the replicated log under the
 * state machine. consensus drives a `struct sm` (common/sm.h) and knows
 * nothing of what the entries mean; it proposes opaque entries (the agent
 * batches commands into them), serves barriers for linearizable reads, and
 * changes the membership one change at a time.
 *
 * The transport is our own (consensus/transport.h): TCP with TCP_NODELAY, and
 * a mutual HMAC handshake on the cluster secret before any byte reaches raft.
 * raft's automatic segment recovery is off: a damaged log stops the node
 * loudly instead of silently dropping acknowledged entries.
 *
 * When the state machine can defer commits (common/sm.h apply_deferred and
 * flush), the entries raft applies in one loop turn are committed as one group
 * at the end of the turn (consensus/group.c); what a callback reports as
 * applied is then already committed.
 *
 * Everything runs on the loop given to consensus_init. Callbacks follow the
 * project's contract: if a call returns an error its callback never fires; if
 * it returns 0 the callback fires exactly once, also on close (ERR_CANCELED).
 */
#ifndef LOGOS_CONSENSUS_CONSENSUS_H
#define LOGOS_CONSENSUS_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "common/log.h"
#include "common/sm.h"
#include "consensus/transport.h"

enum {
	CONSENSUS_VOTER = 0,
	CONSENSUS_STANDBY,
	CONSENSUS_SPARE
};

struct consensus_config {
	uint64_t id;                  /* This node's raft id (>= 1). */
	const char *raft_addr;        /* "IP:PORT" this node listens on and is known by. */
	const char *dir;              /* Raft's data directory (created 0700 if missing). */
	const uint8_t *secret;        /* TRANSPORT_SECRET_LEN bytes. */
	unsigned election_timeout_ms; /* 0: 1000. */
	unsigned heartbeat_ms;        /* 0: 100. */
	unsigned snapshot_threshold;  /* Entries at least between snapshots; 0: 8192
				       * (and see consensus/snapshot.c). */
	unsigned snapshot_trailing;   /* Entries kept after a snapshot; 0: 4096. */
	struct sm *sm;                /* The state machine (borrowed). */
	struct logger *lg;            /* Borrowed. */
	/* Called (once) when the state machine fails to apply an entry: the
	 * agent must stop (DESIGN §2, §4.4). */
	void (*on_fatal)(void *arg, const char *msg);
	void *arg;
};

typedef void (*consensus_propose_cb)(void *arg, int status, uint64_t index);
typedef void (*consensus_done_cb)(void *arg, int status);

struct consensus_waiter; /* private: a barrier request */
struct consensus_change; /* private: a queued membership change */

struct consensus {
	uv_loop_t *loop;
	struct consensus_config cfg;
	struct raft raft;
	struct raft_io io;
	struct raft_fsm fsm;
	struct transport transport;
	char dir[256];
	char raft_addr[64];
	/* Barriers: one raft barrier in flight; requests arriving meanwhile
	 * wait for the next one (DESIGN §6: linearizable reads, batched). */
	struct consensus_waiter *barrier_inflight; /* waiters of the raft barrier in flight */
	struct consensus_waiter *barrier_waiting;  /* waiters for the next one (FIFO) */
	struct consensus_waiter **barrier_waiting_tail;
	struct raft_barrier barrier_req[2]; /* alternated: one may still be firing */
	unsigned barrier_next;
	/* Membership changes, applied one at a time; the head is in flight
	 * when `changing`. */
	struct consensus_change *changes;
	bool changing;
	unsigned heartbeat_ms;  /* as configured (send_now_end restores it) */
	uint64_t last_entry_ms; /* uv_now when an entry was last handed to raft */
	struct raft_transfer transfer;
	consensus_done_cb transfer_cb;
	void *transfer_arg;
	/* Group commit (consensus/group.c). */
	uv_check_t group_check;
	bool grouping;          /* the state machine can defer commits */
	unsigned group_entries; /* entries in the open group */
	size_t group_bytes;
	uint64_t group_commits; /* groups committed (tests, metrics) */
	uint64_t group_wait;    /* follower: commit once this index is stored */
	/* Snapshots off the loop (consensus/snapshot.c): the one being taken,
	 * raft_uv's snapshot_put and start (ours wrap them), raft's receive
	 * callback, and an InstallSnapshot held while ours is written. */
	struct consensus_snapshot *snap;
	int (*uv_snapshot_put)(struct raft_io *io, unsigned trailing,
			       struct raft_io_snapshot_put *req,
			       const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb);
	int (*uv_start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
			raft_io_recv_cb recv);
	int (*uv_snapshot_get)(struct raft_io *io, struct raft_io_snapshot_get *req,
			       raft_io_snapshot_get_cb cb);
	int (*uv_send)(struct raft_io *io, struct raft_io_send *req,
		       const struct raft_message *message, raft_io_send_cb cb);
	raft_io_recv_cb raft_recv;
	/* The one snapshot install this node sends at a time: loading, or sent
	 * to server_id and not yet answered at or past index. */
	struct {
		struct raft_io_snapshot_get get;  /* ours, to raft_uv; data = c */
		struct raft_io_snapshot_get *req; /* raft's, while loading */
		bool loading;
		uint64_t server_id;
		uint64_t index;
		uint64_t since; /* uv_now */
	} send;
	uint64_t installs_sent; /* InstallSnapshot messages sent (tests, logs) */
	struct raft_message held;
	char held_addr[64];
	bool holding;
	unsigned snap_threshold; /* entries at least between snapshots */
	unsigned raft_threshold; /* as set in raft */
	size_t snap_last_bytes;  /* size of the last snapshot taken or restored */
	size_t log_bytes;        /* payload applied since the last snapshot */
	unsigned close_pending;  /* close steps left: raft, the check handle, a snapshot */
	bool inited;
	bool started;
	bool closing;
	bool fatal;
	void (*close_cb)(struct consensus *c);
	char errmsg[256];
};

/*
 * Sets up the node (raft_uv I/O in cfg->dir, the transport, the FSM adapter)
 * without starting it. Errors: ERR_IO, ERR_NOMEM, ERR_INVALID, with c->errmsg;
 * on error nothing is left to close. On success the node must be closed with
 * consensus_close (also when bootstrap or start fail). cfg->secret is copied;
 * cfg->sm and cfg->lg are borrowed until the close callback.
 *
 * The process must ignore SIGPIPE (libuv writes to sockets with write(2); a
 * peer that went away would otherwise kill it).
 */
int consensus_init(struct consensus *c, uv_loop_t *loop, const struct consensus_config *cfg);

/* True if cfg->dir already holds raft state (a restart rather than a new node). */
bool consensus_has_state(const struct consensus *c);

/* Makes this node the single voter of a new cluster. ERR_EXISTS if the
 * directory already has state. Call before consensus_start. */
int consensus_bootstrap(struct consensus *c);

/* Starts raft: loads the log, replays entries into the state machine (it skips
 * what it already applied), joins elections. Errors (with c->errmsg): ERR_IO,
 * ERR_CORRUPT (snapshot restore failed), ERR_NOMEM. */
int consensus_start(struct consensus *c);

/*
 * Proposes one entry of `len` bytes (copied; a non-zero multiple of 8).
 * Returns at once, without calling cb: ERR_INVALID (length), ERR_NOTLEADER
 * (this node is not the leader), ERR_CANCELED (closing), ERR_UNAVAILABLE (the
 * state machine failed), ERR_NOMEM. On 0, cb(arg, status, index) fires exactly
 * once: status 0 after the entry was applied here (and, with group commit,
 * committed), with its log index; ERR_UNAVAILABLE if the state machine failed;
 * ERR_NOTLEADER if leadership was lost before commit (the entry may still
 * commit under a new leader); ERR_CANCELED on close (index 0 unless status 0).
 */
int consensus_propose(struct consensus *c, const void *entry, size_t len, consensus_propose_cb cb,
		      void *arg);

/* Confirms leadership and waits until everything committed before the call is
 * applied: after cb(arg, 0), a local read is linearizable. Concurrent calls
 * share one raft barrier: at most one is in flight, calls made meanwhile wait
 * for the next one. Returns ERR_NOTLEADER (cb never fires) when not the leader,
 * ERR_CANCELED when closing. Later cb statuses: 0, ERR_NOTLEADER (leadership
 * lost), ERR_CANCELED (close), ERR_UNAVAILABLE (the state machine failed). */
int consensus_barrier(struct consensus *c, consensus_done_cb cb, void *arg);

/* Membership (leader only), queued and applied one at a time: add a node as a
 * spare, assign a role (CONSENSUS_*), remove a node. Returns ERR_NOTLEADER,
 * ERR_INVALID (id 0, bad address or role) or ERR_CANCELED without calling cb;
 * a change submitted at once (nothing queued) also returns raft's refusal
 * (ERR_EXISTS duplicate id/address, ERR_NOTFOUND/ERR_INVALID unknown node or
 * same role, ERR_BUSY). Otherwise cb(arg, status) fires once the
 * configuration entry is committed (0) or failed (ERR_NOTLEADER, ERR_CANCELED,
 * or the refusal of a queued change). Assigning CONSENSUS_VOTER first lets the
 * node catch up, so it completes only when the node is reachable. */
int consensus_add(struct consensus *c, uint64_t id, const char *raft_addr, consensus_done_cb cb,
		  void *arg);
int consensus_assign(struct consensus *c, uint64_t id, int role, consensus_done_cb cb, void *arg);
int consensus_remove(struct consensus *c, uint64_t id, consensus_done_cb cb, void *arg);

/* Hands leadership to another voter (on graceful shutdown). 0 if started
 * (then cb fires once: 0 if this node is no longer the leader, ERR_TIMEOUT if
 * it still is after an election timeout, ERR_CANCELED on close); ERR_NOTLEADER,
 * ERR_BUSY (one already running), ERR_NOTFOUND (no other voter). */
int consensus_transfer(struct consensus *c, consensus_done_cb cb, void *arg);

bool consensus_is_leader(struct consensus *c);
/* The known leader's id (0 if none) and address (NULL if none). */
uint64_t consensus_leader(struct consensus *c, const char **raft_addr);
uint64_t consensus_term(struct consensus *c);
uint64_t consensus_commit_index(struct consensus *c);
uint64_t consensus_last_applied(struct consensus *c);
/* This node's role in the current configuration (CONSENSUS_*), -1 if absent. */
int consensus_role(struct consensus *c, uint64_t id);
/* The configuration: calls cb for each server. */
void consensus_servers(struct consensus *c,
		       void (*cb)(void *arg, uint64_t id, const char *addr, int role), void *arg);

/* Closes raft, the I/O and the transport; cb fires when the memory of `c` may
 * be reused (from a later loop iteration; run the loop). Pending requests
 * complete with ERR_CANCELED before consensus_close returns or shortly
 * after; a change already in flight may still complete with 0. A second
 * call while closing is ignored. */
void consensus_close(struct consensus *c, void (*cb)(struct consensus *c));

#endif /* LOGOS_CONSENSUS_CONSENSUS_H */
