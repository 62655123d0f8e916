/*
 * The agent's private state, shared by its files: agent.c (set-up, the apply
 * hook, watches, shutdown), submit.c (stamping, batching, forwarding, reads,
 * joins), reconcile.c (this host's processes against the state) and
 * detector.c (heartbeats, down/up, roles).
 */
#ifndef LOGOS_AGENT_INTERNAL_H
#define LOGOS_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "agent/agent.h"
#include "agent/attempts.h"
#include "common/buf.h"

#define AGENT_TICK_MS            250
#define AGENT_FORWARD_TIMEOUT_MS 10000
#define AGENT_BATCH_BYTES        (4u << 20)
#define AGENT_NUDGE_MS           2 /* agent__nudge waits this long for other traffic */

/* A command waiting for its result. */
struct pending {
	struct pending *next;
	struct agent *a;
	uint64_t origin;
	uint64_t request_id;
	agent_result_cb cb;
	void *arg;
	bool leader_only; /* never forwarded (agent_submit_leader) */
	uint32_t type;    /* CMD_*, or 0 if not known (forward.c bounds answers by it) */
	struct buf bytes; /* the encoded command */
};

/* A report of this host's executor (started, output, exited, lost) being
 * committed; retried until the log has it (all reports are idempotent). */
struct report {
	struct report *next, *prev;
	struct report *held_next; /* in agent_impl's list of held reports */
	struct agent *a;
	uint64_t pid;
	uint32_t attempt;
	uint32_t type;
	bool final; /* exited or lost */
	bool inflight;
	bool held; /* not sent yet: waits for company (reconcile.c, report) */
	uint64_t retry_at;
	struct buf bytes; /* the encoded command */
};

/* An attempt being stopped because the state no longer wants it. */
struct stopping {
	uint64_t pid;
	uint32_t attempt;
	uint64_t since; /* uv_now at SIGTERM */
	bool killed;
};

/* What the leader knows of a node's heartbeats. */
struct seen {
	uint64_t id;
	uint64_t last; /* uv_now of the last heartbeat */
	bool inflight; /* a down/up command is being committed */
};

struct agent_impl {
	struct sm wrapped; /* what consensus drives: the applier plus hooks */
	/* Leader-side batching. */
	struct pending *queue, *queue_tail;
	uv_check_t flush;
	uv_idle_t flush_kick; /* keeps the poll from blocking while `flush` waits */
	bool flush_active;
	/* A follower's forwarding (forward.c). */
	struct pending *fwd_queue, *fwd_tail;
	struct client_conn *fwd_conn; /* to the leader, kept alive */
	char fwd_addr[64];            /* where fwd_conn goes */
	uv_check_t fwd_flush;
	uv_idle_t fwd_kick;
	bool fwd_active;   /* fwd_flush runs at the end of this turn */
	bool fwd_inflight; /* a batch awaits its answer */
	bool fwd_single;   /* the leader at fwd_addr predates batches */
	/* A follower's linearizable reads (submit.c): the reads waiting for
	 * the next read index, those the request in flight serves, and the
	 * kept-alive connection that asks the leader for it. */
	struct read_req *ri_wait, *ri_wait_tail, *ri_batch;
	struct client_conn *ri_conn;
	bool ri_inflight;
	/* Reconciler. */
	struct report *reports, *reports_tail; /* in the order they were made */
	struct report *held_head, *held_tail;  /* not sent yet */
	struct attempts finals; /* (pid, attempt) → uint32_t count of final reports queued */
	uv_timer_t hold;        /* sends held reports */
	struct buf stopping;    /* struct stopping[] */
	struct buf signaled;    /* (pid, attempt, signal) triples already delivered */
	uv_idle_t reconcile_soon;
	bool reconcile_scheduled;
	/* The index of this node's live processes and the passes over it
	 * (reconcile.c, header comment). */
	struct attempts live;             /* (pid, 0): pids placed here, not ended (a superset) */
	bool full_due;                    /* a rebuild walk of every process is due */
	bool sweeping;                    /* a walk of every process is under way... */
	bool sweep_audit;                 /* ...an audit (paced by ticks), not a rebuild... */
	bool sweep_step;                  /* ...(audit: a tick allowed its next step)... */
	uint64_t sweep_next;              /* ...and goes on from this pid */
	bool pass_due;                    /* an index pass is due (every RECONCILE_FULL_TICKS) */
	bool passing;                     /* an index pass is under way: */
	uint64_t *pass_pids;              /* the index when it began, in pid order... */
	size_t pass_n;                    /* ...how many... */
	size_t pass_at;                   /* ...and the next one */
	uint64_t rewinds_seen;            /* a->applier.rewinds at the last rebuild (agent.c) */
	bool nudge_inflight, nudge_again; /* submit.c, agent__nudge */
	uv_timer_t nudge_timer;
	uint64_t nudge_mark; /* metrics.proposals when the nudge was asked for */
	struct buf marked;   /* uint64_t pids for the next quick pass */
	unsigned ticks;
	struct exec_orphan *orphans;
	size_t norphans;
	/* Detector. */
	struct buf seen; /* struct seen[] */
	bool was_leader;
	bool self_registering;
	bool role_changing;
	bool self_up_inflight;
	uint64_t last_tick; /* uv_now of the last leader tick */
	/* Housekeeping. */
	uv_timer_t tick;
	uv_timer_t stop_guard; /* bounds the leadership transfer on stop */
	uv_signal_t sigterm, sigint;
	char http_url[96]; /* "http://IP:PORT", for LOGOS_ADDR */
	char leader_http[64];
	char leader_name[64];
	bool closing_started;
};

static inline struct agent_impl *impl(struct agent *a)
{
	return a->impl;
}

/* agent.c */
/* Size of the header line agent__secret_header writes, NUL included. */
#define AGENT_SECRET_HEADER_LEN (sizeof "X-Logos-Secret: \r\n" + 2 * TRANSPORT_SECRET_LEN)
/* Writes "X-Logos-Secret: <hex>\r\n", how agents prove themselves to each
 * other's internal endpoints. */
void agent__secret_header(const struct agent *a, char out[AGENT_SECRET_HEADER_LEN]);

/* Decodes a join token (the cluster secret in hex). */
int agent__parse_token(const char *token, uint8_t secret[TRANSPORT_SECRET_LEN]);

/* submit.c */
void submit__flush(uv_check_t *h);
void submit__fail_all(struct agent *a, int status);
/* Frees a pending command; answers it with `status` (and the leader's HTTP
 * address, may be NULL) first. */
void submit__pending_free(struct pending *p);
void submit__fail(struct pending *p, int status, const char *leader);
/* Fails the reads waiting for a read index and lets go of its connection. */
void submit__reads_close(struct agent *a);
/*
 * agent_submit for decisions only a current leader may make (a node is down,
 * up): if leadership is lost before the command is proposed, it fails
 * (ERR_UNAVAILABLE) instead of being forwarded to the new leader, whose own
 * view decides.
 */
int agent_submit_leader(struct agent *a, struct cmd *c, agent_result_cb cb, void *arg);
/* The leader's HTTP address (from the nodes table), or NULL. */
const char *submit__leader_http(struct agent *a);
/*
 * On the leader: proposes a no-op (at most one in flight; one more after it if
 * asked meanwhile) whose AppendEntries carries the commit index to every
 * follower at once, unless another entry is proposed within AGENT_NUDGE_MS
 * (it carries the index: a busy leader proposes no no-ops). A follower learns that an entry is committed only from
 * the leader's next message, sent with the next entry or heartbeat: a
 * process placed on a follower waited up to a heartbeat interval (100 ms)
 * before its node saw it, and a forwarded write answered by the leader was
 * applied on its follower as late, and so was the exit a follower's ?wait=1
 * waits for. Called when effects for another node, forwarded commands or
 * reports of the executor were applied (reconcile.c, submit.c).
 * Nothing on a follower.
 */
void agent__nudge(struct agent *a);

/*
 * Proposes `p` (a command stamped here, whose ownership passes) on this node,
 * which is the leader: batched with what else arrives in this loop turn.
 */
void submit__propose(struct agent *a, struct pending *p);

/* forward.c */
/* Sets up the forwarding's handles (agent_init). */
void forward__init(struct agent *a);
/*
 * Forwards `p` (ownership passes) to the leader with what else is queued: its
 * callback fires with the leader's result, or ERR_UNAVAILABLE (no leader
 * known, this node is the leader, the request failed: outcome unknown),
 * ERR_TIMEOUT (outcome unknown) or ERR_CANCELED (the agent stops).
 */
void forward__submit(struct pending *p);
/* Cancels what is queued and in flight (ERR_CANCELED), closes the connection
 * and the handles (close_all). */
void forward__close(struct agent *a);

/* reconcile.c */
/* A pass on the next loop turn: quick (the processes effects named), and an
 * index pass or a step of a walk if one is due (reconcile.c). */
void reconcile__schedule(struct agent *a);
/* A rebuild on the next loop turn: the index of this node's processes is
 * emptied and a walk of every process fills it again (at start, after a
 * snapshot is restored, after a rewind). */
void reconcile__run(struct agent *a);
void reconcile__effect(void *arg, uint64_t index, const struct effect *e);
void reconcile__tick(struct agent *a);
extern const struct exec_callbacks reconcile__exec_callbacks;
void reconcile__close(struct agent *a);

/* detector.c */
void detector__tick(struct agent *a);

#endif /* LOGOS_AGENT_INTERNAL_H */
