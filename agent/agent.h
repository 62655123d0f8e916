/*
 * logosd: the agent on every host (DESIGN §2). It wires the modules together —
 * the store and its apply loop, the consensus node, the executor, the HTTP API
 * — and owns what only the agent may do: stamping commands, batching them into
 * log entries, forwarding writes from a follower to the leader, reconciling
 * this host's processes with the replicated state, and detecting failed hosts.
 *
 * Everything runs on the agent's one loop. The HTTP layer (agent/http.h) uses
 * only the functions below.
 */
#ifndef LOGOS_AGENT_AGENT_H
#define LOGOS_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "agent/options.h"
#include "agent/exec.h"
#include "common/log.h"
#include "consensus/consensus.h"
#include "services/command.h"
#include "statestore/apply.h"
#include "statestore/store.h"

struct agent;
struct http;

/* The outcome of a submitted command. */
struct agent_result {
	int status;     /* 0: committed (see code); else ERR_UNAVAILABLE (no
			   * leader reachable), ERR_TIMEOUT, ERR_CANCELED, ... */
	uint64_t index; /* The log index it committed at. */
	int64_t code;   /* The command's result: 0 accepted, else ERR_*. */
	const char *message;
	size_t message_len;
	const void *result; /* msgpack map of the command's result fields */
	size_t result_len;
	const char *leader_http; /* with ERR_UNAVAILABLE: the last known leader, or NULL */
};

typedef void (*agent_result_cb)(void *arg, const struct agent_result *r);

/*
 * Submits one command. The caller fills type, body, principal and key; the
 * agent stamps version, time, origin, term and request id, proposes it on the
 * leader (batched with others arriving together) or forwards it to the leader,
 * and calls cb once with the result (borrowed for the duration of the call).
 * Returns 0 (cb will fire) or ERR_INVALID (the command does not encode) /
 * ERR_NOMEM (cb will not fire).
 */
int agent_submit(struct agent *a, struct cmd *c, agent_result_cb cb, void *arg);

/*
 * A read transaction for an API read: linearizable by default (on the leader
 * after a barrier; on a follower once its applied index reaches the leader's
 * confirmed index), or the local state at once when `stale`. cb(arg, 0, txn)
 * with a transaction valid only during the call; cb(arg, ERR_UNAVAILABLE,
 * NULL) when no leader can confirm. Returns 0 (cb will fire) or an error.
 */
typedef void (*agent_read_cb)(void *arg, int status, struct store_txn *t);
int agent_read(struct agent *a, bool stale, agent_read_cb cb, void *arg);

/* Called after every entry this node applies (DESIGN §6 watch, follow, wait):
 * handlers re-check their condition and remove themselves when done. */
struct agent_watch {
	void (*cb)(struct agent_watch *w, uint64_t applied);
	void *data;
	struct agent_watch *prev, *next; /* private */
};
void agent_watch_add(struct agent *a, struct agent_watch *w);
void agent_watch_remove(struct agent *a, struct agent_watch *w);

struct agent_status {
	uint64_t id;
	const char *name;
	uint64_t leader_id;      /* 0 if unknown */
	const char *leader_name; /* NULL if unknown */
	const char *leader_http; /* NULL if unknown */
	uint64_t term;
	uint64_t applied_index;
	uint64_t commit_index;
	uint64_t oldest_index;
	char digest[33];
	bool is_leader;
};
void agent_status(struct agent *a, struct agent_status *st);

/*
 * Joins a new host (POST /v1/nodes; leader only, forwarded otherwise): checks
 * the token in constant time, commits node.join, adds the node to raft and
 * assigns its role. cb gets the committed node.join result (its id). Errors as
 * agent_submit; a bad token is a result with code ERR_DENIED.
 */
int agent_join(struct agent *a, const char *token, const char *name, const char *raft_addr,
	       const char *http_addr, agent_result_cb cb, void *arg);

/* Internal endpoints between agents (authenticated with the cluster secret
 * by the HTTP layer: header X-Logos-Secret, compared in constant time). */

/* A forwarded command (encoded as by cmd_encode): proposed here if leader. */
int agent_forwarded(struct agent *a, const void *cmd, size_t len, agent_result_cb cb, void *arg);
/* A follower's read barrier: cb(arg, status, index) with the index up to which
 * the leader has confirmed its state. */
int agent_read_index(struct agent *a, void (*cb)(void *arg, int status, uint64_t index), void *arg);
/* A heartbeat from node `id` (failure detection, leader only). */
void agent_heartbeat(struct agent *a, uint64_t id);

/* The cluster secret, for the internal endpoints' check. */
const uint8_t *agent_secret(const struct agent *a);

/* Counters exported by GET /metrics. */
struct agent_metrics {
	uint64_t proposals;              /* entries proposed */
	uint64_t commands;               /* commands proposed */
	uint64_t forwarded;              /* commands forwarded to the leader */
	uint64_t forward_batches;        /* requests that carried them */
	uint64_t forward_connections;    /* connections opened to carry them */
	uint64_t read_index_requests;    /* follower: read indexes asked of the leader */
	uint64_t read_index_connections; /* connections opened to ask them */
	uint64_t commit_ns_sum;          /* sum of propose-to-apply latency of entries */
	uint64_t commit_count;
	uint64_t batch_max;   /* largest batch */
	uint64_t spawned;     /* attempts started here */
	uint64_t live;        /* processes in the reconciler's index (reconcile.c) */
	uint64_t live_missed; /* live processes an audit walk found missing from it */
	uint64_t live_audits; /* audit walks completed */
};
const struct agent_metrics *agent_metrics(const struct agent *a);

struct agent {
	uv_loop_t loop;
	struct logger lg;
	struct agent_config cfg;
	struct store store;
	struct applier applier;
	struct sm sm;
	struct consensus consensus;
	struct exec exec;
	struct http *http;
	uint8_t secret[TRANSPORT_SECRET_LEN];
	uint64_t id;
	uint64_t request_seq;
	struct agent_watch *watches;
	struct agent_metrics metrics;
	void *impl; /* the agent's private state (agent/internal.h) */
	int exit_status;
	bool stopping;
};

/* Sets up the agent from its configuration: opens the store, the consensus
 * node, the executor and the API; bootstraps or joins per cfg. Errors with a
 * message on the logger. */
int agent_init(struct agent *a, const struct agent_config *cfg);
/* Runs the loop until the agent stops; returns the process exit status. */
int agent_run(struct agent *a);
/* Starts a graceful stop (SIGTERM): transfer leadership, close everything. */
void agent_stop(struct agent *a, int status);

#endif /* LOGOS_AGENT_AGENT_H */
