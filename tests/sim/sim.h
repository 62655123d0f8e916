/*
 * The deterministic simulation tier (research/reliability.md, tiers and
 * invariants I1–I6; DESIGN §7): clusters of 3 or 5 libraft servers on
 * raft_fixture (an in-memory raft_io with simulated time and network), each
 * server's FSM the real state store and apply loop (statestore/apply.h) over
 * its own LMDB environment, driven by one seeded schedule of client commands
 * and faults — partitions, one-way drops, kills, crash-restarts, network and
 * disk latency, snapshots every 32 entries and their installs, servers that
 * join, are promoted, demoted and removed — and checked against the
 * invariants as it goes and after every run.
 *
 * Everything a run does comes from one xorshift64* generator seeded with the
 * run's seed; nothing reads a clock and nothing is kept across runs, so a seed
 * replays exactly (test_sim_same_seed_same_run checks it).
 *
 * What raft_fixture gives and what io.c adds. raft_fixture_kill only stops a
 * server's ticks and messages; its memory and in-flight disk requests stay.
 * The fixture has no restart, so sim_crash (sim.c) builds one from public
 * API: once none of a killed server's requests is in flight it closes its
 * raft instance (raft_close), closes and reopens its LMDB store from disk,
 * and starts a new raft instance (raft_init, raft_start) on the same raft_io,
 * which loads what was persisted there (term, vote, snapshot, entries). For
 * that the raft_io decorators of io.c keep the fixture's persisted log equal
 * to what raft was told is persisted (the fixture truncates at once while
 * earlier appends are pending, and counts from index 1 after an installed
 * snapshot). A crash here loses no acknowledged disk write: torn writes,
 * power loss and a lost disk cache are left to the integration tier
 * (tests/integration), which kills real agents.
 *
 * libraft 0.22.1 (Debian's build, no assertions) gets a few message
 * sequences wrong; io.c documents each and what the simulation does instead
 * (a message lost or rewritten as a correct leader would send it, a snapshot
 * load answered with the snapshot of when it was asked for), and test_sim.c
 * replays the seeds that found them. Disk I/O faults (raft_fixture_io_fault)
 * are off by default: libraft 0.22.1's legacy layer asserts that raft_io
 * never fails outside shutdown (legacy.c: tickCb and recvCb assert
 * `rv == 0`, legacyPersistEntriesCb asserts `r->legacy.closing` on a failed
 * append) and, without assertions, frees an entry batch twice when a
 * truncate or append fails under recvCb (legacyHandleUpdateEntries frees the
 * batch, then recvCb frees it again). LOGOS_SIM_IO_FAULTS=1 turns them on to
 * re-check a newer libraft.
 */
#ifndef LOGOS_TESTS_SIM_SIM_H
#define LOGOS_TESTS_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <raft.h>
#include <raft/fixture.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/sm.h"
#include "statestore/apply.h"
#include "statestore/store.h"

#define SIM_MAX_SERVERS     7  /* 3 or 5 at start, and up to 2 that join */
#define SIM_MAX_CMDS        3  /* commands per proposed entry */
#define SIM_DATA_MAX        24 /* bytes of a file put's data */
#define SIM_N_PATHS         5
#define SIM_SNAP_THRESH     32    /* raft_set_snapshot_threshold */
#define SIM_SNAP_TRAIL      8     /* raft_set_snapshot_trailing */
#define SIM_INSTALL_TIMEOUT 5000  /* raft_set_install_snapshot_timeout, ms */
#define SIM_MAX_WRITES      1024  /* disk writes pending on one server */
#define SIM_MAX_OTHERS      1024  /* sends and snapshot loads in flight */
#define SIM_HEAL_BOUND      30000 /* simulated ms for I6 (liveness after healing) */

/* Fails the running test, naming the seed (Check exits the forked test). */
#define SIM_ASSERT(sim, cond, fmt, ...) \
	ck_assert_msg((cond), "seed %llu: " fmt, (unsigned long long)(sim)->seed, ##__VA_ARGS__)

/* A disk write of one server, in issue order (io.c). */
enum {
	SIM_WRITE_APPEND = 1,
	SIM_WRITE_PUT,
	SIM_WRITE_TRUNCATE
};
struct sim_write {
	struct sim_server *s;
	int kind;
	void *data; /* raft's req->data, while ours points here */
	raft_io_append_cb append_cb;
	raft_io_snapshot_put_cb put_cb;
	unsigned n;                           /* entries appended */
	unsigned trailing;                    /* snapshot put */
	raft_index index;                     /* snapshot put: its index; truncate: from where */
	const struct raft_snapshot *snapshot; /* snapshot put */
};

/* A send or snapshot load in flight (io.c). */
struct sim_other {
	struct sim_server *s; /* NULL: free */
	void *data;
	raft_io_send_cb send_cb;
	raft_io_snapshot_get_cb get_cb;
	struct raft_snapshot *was; /* a load: the snapshot when it was asked for */
};

/* One server's raft_io decorators: the fixture's methods, and what is in
 * flight. */
struct sim_io {
	struct raft_io *self;
	int (*start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
		     raft_io_recv_cb recv);
	int (*append)(struct raft_io *io, struct raft_io_append *req,
		      const struct raft_entry entries[], unsigned n, raft_io_append_cb cb);
	int (*snapshot_put)(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
			    const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb);
	int (*truncate)(struct raft_io *io, raft_index index);
	int (*load)(struct raft_io *io, raft_term *term, raft_id *voted_for,
		    struct raft_snapshot **snapshot, raft_index *start_index,
		    struct raft_entry *entries[], size_t *n_entries);
	int (*send)(struct raft_io *io, struct raft_io_send *req, const struct raft_message *m,
		    raft_io_send_cb cb);
	int (*snapshot_get)(struct raft_io *io, struct raft_io_snapshot_get *req,
			    raft_io_snapshot_get_cb cb);
	raft_io_recv_cb recv; /* raft's, behind recv_filter */
	struct sim_write writes[SIM_MAX_WRITES];
	unsigned writes_head, writes_n;
	struct raft_snapshot *snapshot; /* a copy of the last one written */
	struct sim_other others[SIM_MAX_OTHERS];
	unsigned n_others, n_gets;
	/* The fixture's persisted log: `persisted` entries from log_start. */
	raft_index log_start;
	uint64_t persisted;
};

/* One server: its raft FSM adapter over the real apply loop. */
struct sim_server {
	struct sim *sim;
	unsigned i; /* index in the fixture */
	char dir[80];
	struct store store;
	struct applier applier;
	struct sm sm;
	struct raft_fsm fsm;
	bool open;
	/* The disk latency in force and the one the schedule asked for: a
	 * decrease waits until the disk is idle (sim_set_disk_latency). */
	unsigned disk_latency, disk_target;
	/* The raft_io decorators (io.c). */
	struct sim_io io;
	uint64_t installs_dropped;
	char address[16]; /* raft_io keeps a pointer to it */
	bool crashed;     /* to restart once no request is in flight */
	uint64_t restarts;
	uint64_t restores;  /* snapshots installed */
	uint64_t snapshots; /* snapshots taken */
	/* Its removal from the configuration committed: shut down for good
	 * (killed, never revived), its store kept for the final checks. */
	bool retired;
	bool added;               /* seen in a leader's committed configuration */
	raft_index added_at;      /* the latest such configuration's index */
	raft_term committed_term; /* a term in which it led and committed its entry */
};

/* One command of a proposed entry, as far as the checks need it. */
struct sim_cmd {
	uint32_t type;
	uint64_t request_id;
	bool keyed;    /* has an idempotency key */
	unsigned path; /* file commands: index into the path table */
	uint8_t data[SIM_DATA_MAX];
	size_t len;
	uint64_t target; /* rewind and compact */
	int64_t code;    /* result on the leader when acknowledged */
};

/* One raft_apply request. Owned by the run (freed after the fixture closes,
 * since raft_close may still fire its callback). */
struct sim_prop {
	struct raft_apply req;
	struct sim *sim;
	unsigned server; /* the leader it was proposed to */
	raft_term term;  /* its term then */
	unsigned n;
	struct sim_cmd cmds[SIM_MAX_CMDS];
	bool done;
	int status;
	uint64_t index;
};

/* One membership change (raft_add, raft_assign, raft_remove). Owned by the
 * run, freed after the fixture closes. */
struct sim_change {
	struct raft_change req;
	struct sim *sim;
	int kind;        /* SIM_CHANGE_* */
	unsigned server; /* the server it is about */
	int role;        /* raft_assign's */
	bool done;
	int status;
};

enum {
	SIM_CHANGE_ADD = 1,
	SIM_CHANGE_ASSIGN,
	SIM_CHANGE_REMOVE
};

/* What a run does besides client commands and network and disk faults. */
struct sim_options {
	bool snapshots;  /* snapshot every SIM_SNAP_THRESH entries, installs */
	bool io_faults;  /* raft_fixture_io_fault: libraft 0.22.1 fails (schedule.c) */
	bool membership; /* servers join, are promoted, demoted and removed */
	bool restarts;   /* servers crash and restart from their persisted state */
};

struct sim_stats {
	uint64_t proposed, acked, failed, applies, rewinds_checked, puts_checked;
	uint64_t restores, snapshots, faults, digests_compared, installs_dropped, appends_trimmed,
		loads_replaced, snapshots_deferred;
	uint64_t changes_proposed, changes_committed, joined, retired, restarts, replays;
};

struct sim {
	uint64_t seed;
	uint64_t rng;
	unsigned n; /* servers in the fixture (grows when one joins) */
	struct sim_options opts;
	const char *root;
	bool closing; /* raft_fixture_close runs: callbacks must not look at rafts */
	struct raft_fixture f;
	struct sim_server servers[SIM_MAX_SERVERS];
	struct sim_prop **props;
	size_t n_props, cap_props;
	struct sim_change **changes;
	size_t n_changes, cap_changes;
	struct sim_change *change; /* the one in progress, if any */
	uint64_t next_request_id;
	/* I4: the leader seen in each term (0: none yet), indexed by term. */
	raft_id *leaders;
	size_t cap_leaders;
	/* I3 as it happens: the digest after each index on the first server to
	 * apply it, indexed by index. */
	struct hash128 *digests;
	bool *have_digest;
	size_t cap_digests;
	/* A hash of everything observable that the run did, for the replay test. */
	uint64_t trace;
	struct sim_stats stats;
	struct buf scratch;
	struct raft_tracer quiet; /* drops the fixture's traces */
};

/* sim.c: the generator and the cluster. */
uint64_t sim_rand(struct sim *sim);
uint64_t sim_below(struct sim *sim, uint64_t n);
void sim_trace(struct sim *sim, uint64_t v);
/* Sets up a cluster of `n` voters (stores in fresh directories below
 * `root`), bootstraps and starts it; with opts->snapshots, snapshots are
 * taken every SIM_SNAP_THRESH entries (else practically never). Fails the
 * test on error. */
void sim_init(struct sim *sim, uint64_t seed, unsigned n, const struct sim_options *opts,
	      const char *root);
/* Adds a server to the fixture (raft_fixture_grow) with an empty store and
 * starts it, outside any configuration until raft_add; returns its index. */
unsigned sim_grow(struct sim *sim);
/* Closes the fixture and the stores and removes their directories. */
void sim_close(struct sim *sim);
struct raft *sim_raft(struct sim *sim, unsigned i);
/*
 * Sets server i's disk latency. raft_fixture completes each disk request at
 * its issue time plus the latency in force then, so lowering the latency while
 * requests are pending would complete a later append before an earlier one —
 * which no real disk does and libraft 0.22.1 does not allow (raft.c,
 * stepPersistedEntries asserts `index > r->last_stored`; Debian's build has no
 * assertions and goes on with a corrupt log). An increase applies at once; a
 * decrease waits until server i has no append or snapshot write pending
 * (sim_settle_disks, after every step).
 */
void sim_set_disk_latency(struct sim *sim, unsigned i, unsigned msecs);
void sim_settle_disks(struct sim *sim);
/* io.c: wraps server i's raft_io methods (before it starts); whether none of
 * its requests is in flight. */
void sim_io_wrap(struct sim *sim, unsigned i);
bool sim_io_idle(struct sim *sim, unsigned i);
void sim_io_close(struct sim *sim, unsigned i);
/*
 * Real crash-restart (sim.c): sim_crash kills server i (its requests in
 * flight still complete, as a disk finishes its queue); once none is left
 * (sim_restart_crashed, after every step) its raft instance is closed, its
 * store closed and reopened from its directory, and a new raft instance
 * starts on the same raft_io, from what that raft_io persisted (term, vote,
 * snapshot, entries), and rejoins.
 */
void sim_crash(struct sim *sim, unsigned i);
void sim_restart_crashed(struct sim *sim);
/* After every step: a server that was in a committed configuration and is no
 * longer in a leader's committed configuration is retired (killed for good),
 * as an operator shuts down a removed server: else, if it never heard of its
 * removal, it would campaign forever (the disruptive server of Raft §4.2.3).
 */
void sim_retire_removed(struct sim *sim);

/* workload.c: client commands. */
/* Proposes a random entry to a random server that believes it leads.
 * Returns false if there is none or raft refused it. */
bool sim_propose_random(struct sim *sim);
/* Proposes one unconditional file put to server `i`; returns the request. */
struct sim_prop *sim_propose_put(struct sim *sim, unsigned i);
extern const char *const sim_paths[SIM_N_PATHS];

/* invariants.c */
/* The fixture hook: I4 at every step. */
void sim_hook(struct raft_fixture *f, struct raft_fixture_event *event);
/* Called by the FSM after server `s` applied `index` (I3 as it happens, and
 * the rewind invariant) and after it restored a snapshot. */
void sim_after_apply(struct sim *sim, struct sim_server *s, uint64_t index, const void *buf,
		     size_t len);
void sim_after_restore(struct sim *sim, struct sim_server *s);
/* Called when raft replays an entry the store already applied (after a
 * restart): it must be the entry the store applied, command by command. */
void sim_after_replay(struct sim *sim, struct sim_server *s, uint64_t index, const void *buf,
		      size_t len);
/* End of run: I1 and I3 over every stored index. `ref` is the leader after
 * healing; `member[i]` says whether server i is a voter or standby of its
 * configuration (and so must have applied everything); the others (spares,
 * removed servers, joiners never added) are checked up to what they
 * applied. */
void sim_check_final(struct sim *sim, unsigned ref, const bool *member);

/* schedule.c: one whole run. */
/* Runs the seeded schedule of `steps` actions on a fresh cluster below
 * `root`, heals it, checks liveness (I6) and every invariant. Returns the
 * run's trace hash. */
uint64_t sim_run(uint64_t seed, unsigned steps, const struct sim_options *opts, const char *root,
		 struct sim_stats *stats);

#endif /* LOGOS_TESTS_SIM_SIM_H */
