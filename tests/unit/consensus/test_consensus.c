/*
 * Tests of consensus/consensus.h with real raft clusters: several nodes in one
 * process on one loop, real raft_uv data directories under mkdtemp and our
 * transport on reserved 127.0.0.1 ports. The state machine is a toy (a running
 * hash of (index, payload) and the applied index) that records the index each
 * payload was applied at, so the tests check that consensus passes raft's log
 * index, that replicas agree, that replays after a restart are skipped and
 * that a late node gets the state through a snapshot. With group commit on
 * (common/sm.h apply_deferred and flush) the toy keeps a committed copy of its
 * state, counts its flushes, and notes any snapshot or restore that would see
 * uncommitted entries. Nothing sleeps: the loop
 * runs (UV_RUN_ONCE) until a condition holds or a deadline passes.
 */
#include "config.h"

#include <ftw.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <raft.h>
#include <uv.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"
#include "common/sm.h"
#include "consensus/consensus.h"
#include "tests/unit/consensus/suites.h"

#define NODES     4
#define MAX_SEQ   512
#define ENTRY_LEN 16

/* The toy state machine. State: applied, hash, count. The rest is for the
 * tests' eyes only. */
struct toy {
	struct sm sm;
	uint64_t applied;
	uint64_t hash;
	uint64_t count;
	uint64_t skipped;  /* replays at or below applied */
	uint64_t restores; /* snapshots restored */
	uint64_t seen_index[MAX_SEQ];
	bool fail;
	char err[64];
	/* Group commit: the state as of the last flush, the entries applied
	 * since, flushes done, and snapshots or restores with entries still
	 * uncommitted (none may happen). */
	bool group;
	uint64_t c_applied, c_hash, c_count;
	unsigned pending;
	uint64_t flushes;
	uint64_t violations;
	bool flush_fail;
	/* Snapshots in parts: written on the thread pool, held at the gate
	 * while it is closed. Guarded by mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool gate_closed;
	unsigned at_gate;    /* writes waiting at the gate */
	unsigned written;    /* snapshots written */
	unsigned off_thread; /* of them, on another thread than the loop's */
	pthread_t loop_thread;
	size_t pad; /* zero bytes after the state in a snapshot */
	/* A follower's commits (consensus/group.c): the raft node driving this
	 * toy, the last log index when the first entry of the open group was
	 * applied, and the follower commits made before that index was stored
	 * (so before the follower could answer the leader for it). */
	struct consensus *c;
	uint64_t group_last;
	uint64_t follower_flushes;
	uint64_t early_flushes;
};

/* A snapshot in parts: the state when it began. */
struct toy_snap {
	struct toy *t;
	uint64_t applied, hash, count;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

static int toy_apply(struct sm *sm, uint64_t index, const void *buf, size_t len)
{
	struct toy *t = sm->data;
	const uint8_t *p = buf;
	uint64_t seq;
	size_t i;

	if (t->fail) {
		snprintf(t->err, sizeof t->err, "disk on fire");
		return ERR_IO;
	}
	if (index <= t->applied) {
		t->skipped++;
		return 0;
	}
	t->hash = mix(t->hash, index);
	for (i = 0; i < len; i++)
		t->hash = mix(t->hash, p[i]);
	t->applied = index;
	t->count++;
	seq = be64_get(p);
	if (len == ENTRY_LEN && seq < MAX_SEQ)
		t->seen_index[seq] = index;
	return 0;
}

static int toy_apply_deferred(struct sm *sm, uint64_t index, const void *buf, size_t len)
{
	struct toy *t = sm->data;
	uint64_t applied = t->applied;
	int rv;

	rv = toy_apply(sm, index, buf, len);
	if (rv == 0 && t->applied != applied && t->pending++ == 0 && t->c != NULL)
		t->group_last = raft_last_index(&t->c->raft);
	return rv;
}

static int toy_flush(struct sm *sm)
{
	struct toy *t = sm->data;

	if (t->pending == 0)
		return 0;
	t->pending = 0;
	if (t->c != NULL && raft_state(&t->c->raft) == RAFT_FOLLOWER) {
		t->follower_flushes++;
		if (t->c->raft.last_stored < t->group_last)
			t->early_flushes++;
	}
	t->group_last = 0;
	if (t->flush_fail) {
		/* The open group is dropped: back to the last commit. */
		t->applied = t->c_applied;
		t->hash = t->c_hash;
		t->count = t->c_count;
		snprintf(t->err, sizeof t->err, "commit: disk on fire");
		return ERR_IO;
	}
	t->c_applied = t->applied;
	t->c_hash = t->hash;
	t->c_count = t->count;
	t->flushes++;
	return 0;
}

/* A snapshot: the state, then t->pad zero bytes. */
static int toy_put_state(const struct toy *t, uint64_t applied, uint64_t hash, uint64_t count,
			 struct buf *out)
{
	int rv;

	rv = buf_put_u64be(out, applied);
	if (rv == 0)
		rv = buf_put_u64be(out, hash);
	if (rv == 0)
		rv = buf_put_u64be(out, count);
	if (rv == 0 && t->pad > 0 && (rv = buf_reserve(out, t->pad)) == 0) {
		memset(out->data + out->len, 0, t->pad);
		out->len += t->pad;
	}
	return rv;
}

static int toy_snapshot_begin(struct sm *sm, struct sm_snapshot **snap)
{
	struct toy *t = sm->data;
	struct toy_snap *h;

	if (t->pending != 0)
		t->violations++;
	h = malloc(sizeof *h);
	if (h == NULL)
		return ERR_NOMEM;
	h->t = t;
	h->applied = t->applied;
	h->hash = t->hash;
	h->count = t->count;
	*snap = (struct sm_snapshot *)h;
	return 0;
}

static int toy_snapshot_write(struct sm_snapshot *snap, struct buf *out)
{
	struct toy_snap *h = (struct toy_snap *)snap;
	struct toy *t = h->t;
	bool off = !pthread_equal(pthread_self(), t->loop_thread);
	int rv;

	pthread_mutex_lock(&t->mu);
	t->at_gate++;
	pthread_cond_broadcast(&t->cv);
	while (t->gate_closed)
		pthread_cond_wait(&t->cv, &t->mu);
	t->at_gate--;
	pthread_mutex_unlock(&t->mu);
	rv = toy_put_state(t, h->applied, h->hash, h->count, out);
	pthread_mutex_lock(&t->mu);
	t->written++;
	t->off_thread += off;
	pthread_mutex_unlock(&t->mu);
	return rv;
}

static const char *toy_snapshot_errmsg(struct sm_snapshot *snap)
{
	(void)snap;
	return "out of memory";
}

static void toy_snapshot_end(struct sm *sm, struct sm_snapshot *snap)
{
	(void)sm;
	free(snap);
}

static int toy_restore(struct sm *sm, const void *buf, size_t len)
{
	struct toy *t = sm->data;
	const uint8_t *p = buf;

	if (len != 24 + t->pad) {
		snprintf(t->err, sizeof t->err, "snapshot of %zu bytes", len);
		return ERR_CORRUPT;
	}
	if (t->pending != 0)
		t->violations++;
	t->applied = t->c_applied = be64_get(p);
	t->hash = t->c_hash = be64_get(p + 8);
	t->count = t->c_count = be64_get(p + 16);
	t->restores++;
	return 0;
}

static uint64_t toy_applied_index(struct sm *sm)
{
	struct toy *t = sm->data;

	return t->group ? t->c_applied : t->applied;
}

static const char *toy_errmsg(struct sm *sm)
{
	return ((struct toy *)sm->data)->err;
}

static void toy_init(struct toy *t)
{
	memset(t, 0, sizeof *t);
	t->sm.data = t;
	t->sm.apply = toy_apply;
	t->sm.restore = toy_restore;
	t->sm.applied_index = toy_applied_index;
	t->sm.errmsg = toy_errmsg;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->loop_thread = pthread_self();
	t->sm.snapshot_begin = toy_snapshot_begin;
	t->sm.snapshot_write = toy_snapshot_write;
	t->sm.snapshot_errmsg = toy_snapshot_errmsg;
	t->sm.snapshot_end = toy_snapshot_end;
}

static void toy_gate(struct toy *t, bool closed)
{
	pthread_mutex_lock(&t->mu);
	t->gate_closed = closed;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

static bool toy_at_gate(void *arg)
{
	struct toy *t = arg;
	bool at;

	pthread_mutex_lock(&t->mu);
	at = t->at_gate > 0;
	pthread_mutex_unlock(&t->mu);
	return at;
}

/* Turns group commit on (before the node starts). */
static void toy_group(struct toy *t)
{
	t->group = true;
	t->sm.apply_deferred = toy_apply_deferred;
	t->sm.flush = toy_flush;
}

/* The cluster. */

struct node {
	struct consensus c;
	struct toy toy; /* kept across restarts, like a state store on disk */
	char dir[300];
	char addr[32];
	uint64_t id;
	bool running; /* between consensus_init and the close callback */
	unsigned fatals;
};

struct cluster {
	uv_loop_t loop;
	uv_timer_t tick; /* wakes uv_run(UV_RUN_ONCE) so deadlines are checked */
	char root[256];
	struct logger lg;
	uint8_t secret[TRANSPORT_SECRET_LEN];
	unsigned threshold, trailing;
	bool group; /* nodes start with group commit on */
	struct node nodes[NODES];
};

static struct cluster *cl;
static struct cluster cluster_storage;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int reserve_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

static void noop_close(uv_handle_t *h)
{
	(void)h;
}

/* Runs the loop until pred(arg) or `ms` elapsed; returns pred(arg). */
static bool run_until(bool (*pred)(void *), void *arg, double ms)
{
	double deadline = now_ms() + ms;

	while (!pred(arg) && now_ms() < deadline)
		uv_run(&cl->loop, UV_RUN_ONCE);
	return pred(arg);
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static void run_for(double ms)
{
	run_until(never, NULL, ms);
}

static bool flag_set(void *arg)
{
	return *(bool *)arg;
}

static void setup(void)
{
	unsigned i;

	/* libuv writes to sockets with write(2): a peer that went away must not
	 * kill the process (the agent ignores SIGPIPE too). */
	signal(SIGPIPE, SIG_IGN);

	cl = &cluster_storage;
	memset(cl, 0, sizeof *cl);
	ck_assert_int_eq(uv_loop_init(&cl->loop), 0);
	uv_timer_init(&cl->loop, &cl->tick);
	uv_timer_start(&cl->tick, tick_cb, 10, 10);
	snprintf(cl->root, sizeof cl->root, "/tmp/check_consensus.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(cl->root));
	logger_init(&cl->lg, LOG_LEVEL_OFF);
	memcpy(cl->secret, "the cluster secret, 32 bytes....", TRANSPORT_SECRET_LEN);
	cl->threshold = 8192;
	cl->trailing = 4096;
	for (i = 0; i < NODES; i++) {
		struct node *n = &cl->nodes[i];
		n->id = i + 1;
		toy_init(&n->toy);
		snprintf(n->dir, sizeof n->dir, "%s/n%u", cl->root, i + 1);
		snprintf(n->addr, sizeof n->addr, "127.0.0.1:%d", reserve_port());
	}
}

static void on_closed(struct consensus *c)
{
	struct node *n = (struct node *)((char *)c - offsetof(struct node, c));

	n->running = false;
}

static bool node_stopped(void *arg)
{
	return !((struct node *)arg)->running;
}

static void node_close(struct node *n)
{
	ck_assert(n->running);
	consensus_close(&n->c, on_closed);
	ck_assert(run_until(node_stopped, n, 10000));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	double deadline;
	unsigned i;

	for (i = 0; i < NODES; i++)
		if (cl->nodes[i].running)
			consensus_close(&cl->nodes[i].c, on_closed);
	uv_close((uv_handle_t *)&cl->tick, noop_close);
	deadline = now_ms() + 10000;
	while (uv_loop_alive(&cl->loop) && now_ms() < deadline)
		uv_run(&cl->loop, UV_RUN_ONCE);
	for (i = 0; i < NODES; i++)
		ck_assert(!cl->nodes[i].running);
	ck_assert_int_eq(uv_loop_close(&cl->loop), 0);
	nftw(cl->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_fatal(void *arg, const char *msg)
{
	struct node *n = arg;

	(void)msg;
	n->fatals++;
}

/* Sets up and starts node i (0-based), with `secret`. */
static void node_start_with(unsigned i, bool bootstrap, const uint8_t *secret)
{
	struct node *n = &cl->nodes[i];
	struct consensus_config cfg;

	memset(&cfg, 0, sizeof cfg);
	cfg.id = n->id;
	cfg.raft_addr = n->addr;
	cfg.dir = n->dir;
	cfg.secret = secret;
	cfg.election_timeout_ms = 300;
	cfg.heartbeat_ms = 50;
	cfg.snapshot_threshold = cl->threshold;
	cfg.snapshot_trailing = cl->trailing;
	if (cl->group)
		toy_group(&n->toy);
	n->toy.c = &n->c;
	cfg.sm = &n->toy.sm;
	cfg.lg = &cl->lg;
	cfg.on_fatal = on_fatal;
	cfg.arg = n;
	ck_assert_int_eq(consensus_init(&n->c, &cl->loop, &cfg), 0);
	n->running = true;
	if (bootstrap) {
		ck_assert(!consensus_has_state(&n->c));
		ck_assert_int_eq(consensus_bootstrap(&n->c), 0);
	}
	ck_assert_msg(consensus_start(&n->c) == 0, "start: %s", n->c.errmsg);
}

static void node_start(unsigned i, bool bootstrap)
{
	node_start_with(i, bootstrap, cl->secret);
}

static bool has_leader(void *arg)
{
	unsigned i;

	(void)arg;
	for (i = 0; i < NODES; i++)
		if (cl->nodes[i].running && consensus_is_leader(&cl->nodes[i].c))
			return true;
	return false;
}

/* Waits for a leader among the running nodes. */
static struct node *wait_leader(void)
{
	unsigned i;

	ck_assert(run_until(has_leader, NULL, 10000));
	for (i = 0; i < NODES; i++)
		if (cl->nodes[i].running && consensus_is_leader(&cl->nodes[i].c))
			return &cl->nodes[i];
	return NULL;
}

/* Proposals. */

struct result {
	bool done;
	int status;
	uint64_t index;
	unsigned ncalls;
	const struct toy *toy; /* if set: its committed index at the callback */
	uint64_t committed;
};

static void propose_cb(void *arg, int status, uint64_t index)
{
	struct result *r = arg;

	if (r->toy != NULL)
		r->committed = r->toy->c_applied;
	r->ncalls++;
	r->done = true;
	r->status = status;
	r->index = index;
}

static void entry_for(uint64_t seq, uint8_t *e)
{
	be64_put(e, seq);
	be64_put(e + 8, seq * 0x0101010101010101ULL);
}

static int propose(struct node *n, uint64_t seq, struct result *r)
{
	uint8_t e[ENTRY_LEN];

	memset(r, 0, sizeof *r);
	entry_for(seq, e);
	return consensus_propose(&n->c, e, sizeof e, propose_cb, r);
}

/* Proposes seq on n and waits for the result; returns its index. */
static uint64_t propose_sync(struct node *n, uint64_t seq)
{
	struct result r;

	ck_assert_int_eq(propose(n, seq, &r), 0);
	ck_assert(run_until(flag_set, &r.done, 10000));
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.ncalls, 1);
	ck_assert_uint_eq(n->toy.seen_index[seq], r.index);
	return r.index;
}

static void done_cb(void *arg, int status)
{
	struct result *r = arg;

	r->ncalls++;
	r->done = true;
	r->status = status;
}

static void add_voter(struct node *leader, struct node *n)
{
	struct result r;

	memset(&r, 0, sizeof r);
	ck_assert_int_eq(consensus_add(&leader->c, n->id, n->addr, done_cb, &r), 0);
	ck_assert(run_until(flag_set, &r.done, 10000));
	ck_assert_int_eq(r.status, 0);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(consensus_assign(&leader->c, n->id, CONSENSUS_VOTER, done_cb, &r), 0);
	ck_assert(run_until(flag_set, &r.done, 20000));
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(consensus_role(&leader->c, n->id), CONSENSUS_VOTER);
}

struct pair {
	struct node *a, *b;
};

/* Caught up and committed: a follower's group may wait for its append
 * (consensus/group.c). */
static bool caught_up(void *arg)
{
	struct pair *p = arg;

	return p->a->toy.applied == p->b->toy.applied && p->a->toy.hash == p->b->toy.hash &&
	       p->a->toy.pending == 0 && p->b->toy.pending == 0;
}

static void assert_caught_up(struct node *n, struct node *leader)
{
	struct pair p = {n, leader};

	ck_assert_msg(run_until(caught_up, &p, 20000),
		      "node %llu applied=%llu, leader applied=%llu", (unsigned long long)n->id,
		      (unsigned long long)n->toy.applied, (unsigned long long)leader->toy.applied);
	ck_assert_uint_eq(n->toy.count, leader->toy.count);
}

/* A three-node cluster with node 1 as its leader. */
static struct node *three_nodes(void)
{
	struct node *leader;

	node_start(0, true);
	leader = wait_leader();
	ck_assert_ptr_eq(leader, &cl->nodes[0]);
	node_start(1, false);
	node_start(2, false);
	add_voter(leader, &cl->nodes[1]);
	add_voter(leader, &cl->nodes[2]);
	return leader;
}

START_TEST(test_consensus_propose_rejects_unaligned_entries)
{
	struct node *leader;
	uint8_t e[24] = {0};
	struct result r;

	node_start(0, true);
	leader = wait_leader();
	ck_assert_int_eq(consensus_propose(&leader->c, e, 7, propose_cb, &r), ERR_INVALID);
	ck_assert_int_eq(consensus_propose(&leader->c, e, 0, propose_cb, &r), ERR_INVALID);
	ck_assert_int_eq(consensus_propose(&leader->c, e, 20, propose_cb, &r), ERR_INVALID);
	ck_assert_uint_gt(propose_sync(leader, 1), 1);
}
END_TEST

START_TEST(test_consensus_bootstrap_twice_is_exists)
{
	struct node *n = &cl->nodes[0];

	node_start(0, true);
	node_close(n);
	node_start(0, false);
	ck_assert(consensus_has_state(&n->c));
	ck_assert_int_eq(consensus_bootstrap(&n->c), ERR_EXISTS);
	ck_assert(wait_leader() == n);
}
END_TEST

/* A state machine that cannot take snapshots in parts is refused at set-up,
 * with a message, and nothing is left to close. */
START_TEST(test_consensus_init_refuses_a_state_machine_without_snapshot_parts)
{
	struct node *n = &cl->nodes[0];
	struct consensus_config cfg;

	memset(&cfg, 0, sizeof cfg);
	cfg.id = n->id;
	cfg.raft_addr = n->addr;
	cfg.dir = n->dir;
	cfg.secret = cl->secret;
	cfg.sm = &n->toy.sm;
	cfg.lg = &cl->lg;
	n->toy.sm.snapshot_begin = NULL;
	ck_assert_int_eq(consensus_init(&n->c, &cl->loop, &cfg), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(n->c.errmsg, "snapshots in parts"));
}
END_TEST

/* The index given to sm->apply is the entry's log index, also when barriers
 * and configuration entries sit between commands. */
START_TEST(test_consensus_apply_index_is_log_index)
{
	struct result r[40], b[4], ch;
	struct node *leader;
	uint64_t last = 0;
	unsigned i;

	node_start(0, true);
	leader = wait_leader();
	for (i = 0; i < 40; i++) {
		ck_assert_int_eq(propose(leader, i, &r[i]), 0);
		if (i % 10 == 3)
			ck_assert_int_eq(consensus_barrier(&leader->c, done_cb, &b[i / 10]), 0);
		if (i == 17) {
			memset(&ch, 0, sizeof ch);
			/* A spare that never answers: a configuration entry. */
			ck_assert_int_eq(consensus_add(&leader->c, 9, "127.0.0.1:9", done_cb, &ch),
					 0);
		}
		if (i % 10 == 9)
			run_for(20); /* a few appends in between */
	}
	for (i = 0; i < 40; i++) {
		ck_assert(run_until(flag_set, &r[i].done, 10000));
		ck_assert_int_eq(r[i].status, 0);
		ck_assert_uint_gt(r[i].index, last);
		last = r[i].index;
		ck_assert_uint_eq(leader->toy.seen_index[i], r[i].index);
	}
	for (i = 0; i < 4; i++) {
		ck_assert(run_until(flag_set, &b[i].done, 10000));
		ck_assert_int_eq(b[i].status, 0);
	}
	ck_assert(run_until(flag_set, &ch.done, 10000));
	ck_assert_int_eq(ch.status, 0);
	ck_assert_int_eq(consensus_role(&leader->c, 9), CONSENSUS_SPARE);
	/* Barriers and the configuration entry took indexes of their own. */
	ck_assert_uint_gt(last, 40 + 1);
	ck_assert_uint_eq(leader->toy.applied, last);
	ck_assert_uint_eq(leader->toy.count, 40);
}
END_TEST

/* A membership change is appended only after a barrier of the leader's term
 * is applied (consensus.c, change_submit): with nothing else to commit, a
 * change takes two indexes, the barrier's and its own. */
START_TEST(test_consensus_change_waits_for_a_commit_of_the_term)
{
	struct result r, ch;
	struct node *leader;
	uint64_t before;

	node_start(0, true);
	leader = wait_leader();
	ck_assert_int_eq(propose(leader, 1, &r), 0);
	ck_assert(run_until(flag_set, &r.done, 10000));
	ck_assert_int_eq(r.status, 0);
	before = raft_last_applied(&leader->c.raft);
	memset(&ch, 0, sizeof ch);
	ck_assert_int_eq(consensus_add(&leader->c, 9, "127.0.0.1:9", done_cb, &ch), 0);
	ck_assert(run_until(flag_set, &ch.done, 10000));
	ck_assert_int_eq(ch.status, 0);
	ck_assert_int_eq(consensus_role(&leader->c, 9), CONSENSUS_SPARE);
	ck_assert_uint_eq(raft_last_applied(&leader->c.raft), before + 2);
	/* Refused by raft after the barrier (a known id): reported through the
	 * callback, with nothing changed. */
	memset(&ch, 0, sizeof ch);
	ck_assert_int_eq(consensus_add(&leader->c, 9, "127.0.0.1:9", done_cb, &ch), 0);
	ck_assert(run_until(flag_set, &ch.done, 10000));
	ck_assert_int_ne(ch.status, 0);
	ck_assert_int_eq(ch.ncalls, 1);
	ck_assert_int_eq(consensus_role(&leader->c, 9), CONSENSUS_SPARE);
}
END_TEST

START_TEST(test_consensus_cluster_replicates_to_followers)
{
	struct node *leader = three_nodes();
	struct result r;
	unsigned i;

	for (i = 0; i < 20; i++)
		propose_sync(leader, i);
	assert_caught_up(&cl->nodes[1], leader);
	assert_caught_up(&cl->nodes[2], leader);
	ck_assert_uint_eq(consensus_leader(&cl->nodes[1].c, NULL), 1);
	ck_assert_int_eq(propose(&cl->nodes[1], 100, &r), ERR_NOTLEADER);
	ck_assert(!r.done);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(consensus_role(&leader->c, i + 1), CONSENSUS_VOTER);
}
END_TEST

START_TEST(test_consensus_barriers_batch_on_leader)
{
	struct node *leader = three_nodes();
	struct result b[50], rs[5], fb;
	unsigned i;

	for (i = 0; i < 50; i++) {
		memset(&b[i], 0, sizeof b[i]);
		ck_assert_int_eq(consensus_barrier(&leader->c, done_cb, &b[i]), 0);
		if (i % 10 == 0)
			ck_assert_int_eq(propose(leader, i / 10, &rs[i / 10]), 0);
	}
	for (i = 0; i < 50; i++) {
		ck_assert(run_until(flag_set, &b[i].done, 10000));
		ck_assert_int_eq(b[i].status, 0);
		ck_assert_uint_eq(b[i].ncalls, 1);
	}
	for (i = 0; i < 5; i++) {
		ck_assert(run_until(flag_set, &rs[i].done, 10000));
		ck_assert_int_eq(rs[i].status, 0);
	}
	memset(&fb, 0, sizeof fb);
	ck_assert_int_eq(consensus_barrier(&cl->nodes[2].c, done_cb, &fb), ERR_NOTLEADER);
	run_for(50);
	ck_assert(!fb.done);
}
END_TEST

static bool leader_among_2_3(void *arg)
{
	(void)arg;
	return consensus_is_leader(&cl->nodes[1].c) || consensus_is_leader(&cl->nodes[2].c);
}

/* No snapshot or restore saw entries not yet committed (group commit). */
static void assert_no_violations(void)
{
	unsigned i;

	for (i = 0; i < NODES; i++)
		ck_assert_uint_eq(cl->nodes[i].toy.violations, 0);
}

START_TEST(test_consensus_failover_and_restart_replays)
{
	struct node *leader, *n1 = &cl->nodes[0];
	uint64_t skipped;
	unsigned i;

	cl->group = _i;
	leader = three_nodes();
	for (i = 0; i < 10; i++)
		propose_sync(leader, i);
	node_close(n1);
	ck_assert(run_until(leader_among_2_3, NULL, 10000));
	leader = wait_leader();
	ck_assert_ptr_ne(leader, n1);
	for (i = 10; i < 20; i++)
		propose_sync(leader, i);

	/* Node 1 comes back from its directory, its toy state kept: raft
	 * replays its log and the state machine skips what it applied. */
	skipped = n1->toy.skipped;
	node_start(0, false);
	ck_assert(consensus_has_state(&n1->c));
	assert_caught_up(n1, leader);
	ck_assert_uint_ge(n1->toy.skipped - skipped, 10);
	ck_assert_uint_eq(n1->toy.count, 20);
	for (i = 20; i < 25; i++)
		propose_sync(leader, i);
	assert_caught_up(n1, leader);
	ck_assert_uint_eq(n1->fatals, 0);
	assert_no_violations();
}
END_TEST

START_TEST(test_consensus_late_node_gets_snapshot)
{
	struct node *leader, *late = &cl->nodes[3];
	unsigned i;

	cl->group = _i;
	cl->threshold = 16;
	cl->trailing = 8;
	leader = three_nodes();
	for (i = 0; i < 80; i++)
		propose_sync(leader, i);
	assert_caught_up(&cl->nodes[1], leader);
	/* The log kept only the trailing entries: node 4 needs the snapshot. */
	node_start(3, false);
	add_voter(leader, late);
	assert_caught_up(late, leader);
	ck_assert_uint_ge(late->toy.restores, 1);
	ck_assert_uint_lt(late->toy.count, 80 + 1);
	for (i = 80; i < 90; i++)
		propose_sync(leader, i);
	assert_caught_up(late, leader);

	/* Restarting from its own snapshot works too. */
	node_close(late);
	node_start(3, false);
	assert_caught_up(late, leader);
	ck_assert_uint_eq(late->fatals, 0);
	assert_no_violations();
}
END_TEST

/* The index of the newest snapshot file raft_uv wrote in dir, or 0. */
static uint64_t newest_snapshot(const char *dir)
{
	unsigned long long term, index, ts, best = 0;
	struct dirent *e;
	DIR *d = opendir(dir);
	char tail;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (sscanf(e->d_name, "snapshot-%llu-%llu-%llu%c", &term, &index, &ts, &tail) ==
			    3 &&
		    index > best)
			best = index;
	closedir(d);
	return best;
}

static bool has_snapshot(void *arg)
{
	return newest_snapshot(((struct node *)arg)->dir) != 0;
}

/*
 * A snapshot is serialised off the loop: while the state machine's write is
 * held at the gate, the node goes on committing; the snapshot written holds
 * the state of the index it was taken at, not a later one; and a restart
 * starts from it.
 */
static bool toy_reached(void *arg)
{
	const struct toy *want = arg;

	return cl->nodes[0].toy.applied >= want->applied;
}

START_TEST(test_consensus_snapshot_is_written_off_the_loop)
{
	struct node *leader, *n = &cl->nodes[0];
	struct toy expect;
	uint64_t taken_at, seq;

	cl->threshold = 16;
	cl->trailing = 8;
	toy_gate(&n->toy, true);
	node_start(0, true);
	leader = wait_leader();
	for (seq = 0; !toy_at_gate(&n->toy); seq++) {
		ck_assert_uint_lt(seq, 64);
		propose_sync(leader, seq);
	}
	taken_at = n->toy.applied;
	/* Held at the gate: the loop still commits, and nothing is written. */
	for (; seq < 100; seq++)
		propose_sync(leader, seq);
	ck_assert_uint_eq(newest_snapshot(n->dir), 0);
	ck_assert(toy_at_gate(&n->toy));

	toy_gate(&n->toy, false);
	ck_assert(run_until(has_snapshot, n, 10000));
	ck_assert_uint_le(newest_snapshot(n->dir), taken_at);
	ck_assert_uint_eq(n->toy.off_thread, n->toy.written);
	ck_assert_uint_ge(n->toy.written, 1);

	/* A restart with the state machine emptied loads it and replays the
	 * rest: the same state as before. */
	expect.applied = n->toy.applied;
	expect.hash = n->toy.hash;
	expect.count = n->toy.count;
	node_close(n);
	n->toy.applied = n->toy.hash = n->toy.count = 0;
	n->toy.c_applied = n->toy.c_hash = n->toy.c_count = 0;
	node_start(0, false);
	ck_assert(run_until(toy_reached, &expect, 10000));
	ck_assert_uint_eq(n->toy.restores, 1);
	ck_assert_uint_eq(n->toy.hash, expect.hash);
	ck_assert_uint_eq(n->toy.count, expect.count);
	ck_assert_uint_eq(n->fatals, 0);
	assert_no_violations();
}
END_TEST

static bool has_snapshot_after(void *arg)
{
	return newest_snapshot(cl->nodes[0].dir) > *(uint64_t *)arg;
}

/*
 * Closing while a snapshot is being serialised waits for it (raft does not:
 * the put is ours until then), cancels it, and leaves the node able to start
 * again.
 */
START_TEST(test_consensus_close_waits_for_a_snapshot_being_written)
{
	struct node *leader, *n = &cl->nodes[0];
	uint64_t seq, applied;

	cl->threshold = 16;
	cl->trailing = 8;
	toy_gate(&n->toy, true);
	node_start(0, true);
	leader = wait_leader();
	for (seq = 0; !toy_at_gate(&n->toy); seq++) {
		ck_assert_uint_lt(seq, 64);
		propose_sync(leader, seq);
	}
	applied = n->toy.applied;
	consensus_close(&n->c, on_closed);
	run_for(300);
	ck_assert(n->running); /* waiting for the serialisation */
	toy_gate(&n->toy, false);
	ck_assert(run_until(node_stopped, n, 10000));
	ck_assert_uint_eq(newest_snapshot(n->dir), 0); /* cancelled, not written */

	node_start(0, false);
	leader = wait_leader();
	propose_sync(leader, seq);
	ck_assert_uint_gt(n->toy.applied, applied);
	ck_assert_uint_eq(n->fatals, 0);
}
END_TEST

/*
 * A snapshot is due after the threshold's entries only once the entries'
 * payloads add up to half the size of the last snapshot: with 8 KiB
 * snapshots and 16-byte entries, after 256 entries rather than 16.
 */
START_TEST(test_consensus_snapshots_space_out_as_they_grow)
{
	struct node *leader, *n = &cl->nodes[0];
	uint64_t seq, first;

	cl->threshold = 16;
	cl->trailing = 8;
	n->toy.pad = 8192;
	node_start(0, true);
	leader = wait_leader();
	for (seq = 0; newest_snapshot(n->dir) == 0; seq++) {
		ck_assert_uint_lt(seq, 64);
		propose_sync(leader, seq);
	}
	first = newest_snapshot(n->dir);
	for (; seq < 200; seq++)
		propose_sync(leader, seq);
	ck_assert_uint_eq(newest_snapshot(n->dir), first);
	for (; seq < 320; seq++)
		propose_sync(leader, seq);
	ck_assert_uint_gt(newest_snapshot(n->dir), first + 200);

	/* Barriers (linearizable reads) carry no payload, but raft keeps every
	 * entry: after 64 thresholds of them (1024), a snapshot anyway. */
	first = newest_snapshot(n->dir);
	for (seq = 0; seq < 1100 && newest_snapshot(n->dir) == first; seq++) {
		struct result b;

		memset(&b, 0, sizeof b);
		ck_assert_int_eq(consensus_barrier(&leader->c, done_cb, &b), 0);
		ck_assert(run_until(flag_set, &b.done, 10000));
		ck_assert_int_eq(b.status, 0);
	}
	ck_assert(run_until(has_snapshot_after, &first, 10000));
	ck_assert_uint_ge(seq, 1024 - 300);
	ck_assert_uint_eq(n->fatals, 0);
}
END_TEST

/* A partition of node `f` that drops the entries sent to it (behind the
 * hold of consensus/snapshot.c, in front of raft). */
static raft_io_recv_cb f_recv;
static bool f_partitioned;

static void f_filter(struct raft_io *io, struct raft_message *m)
{
	if (f_partitioned && m->type == RAFT_APPEND_ENTRIES) {
		if (m->append_entries.n_entries > 0) {
			raft_free(m->append_entries.entries[0].batch);
			raft_free(m->append_entries.entries);
		}
		return;
	}
	f_recv(io, m);
}

static bool holding(void *arg)
{
	return ((struct node *)arg)->c.holding;
}

/*
 * An InstallSnapshot that reaches a follower while it writes a snapshot of
 * its own is held and handed to raft once that write is done (libraft
 * 0.22.1 would otherwise lose it and crash: consensus/snapshot.c).
 */
START_TEST(test_consensus_install_held_while_own_snapshot_is_written)
{
	struct node *leader, *f = &cl->nodes[2];
	uint64_t seq;

	cl->threshold = 16;
	cl->trailing = 8;
	toy_gate(&f->toy, true);
	leader = three_nodes();
	for (seq = 0; !toy_at_gate(&f->toy); seq++) {
		ck_assert_uint_lt(seq, 64);
		propose_sync(leader, seq);
	}
	/* f stops receiving entries; the leader's log moves past what f has,
	 * so the leader sends it its snapshot, which f holds. */
	f_recv = f->c.raft_recv;
	f->c.raft_recv = f_filter;
	f_partitioned = true;
	for (; seq < 200 && !f->c.holding; seq++)
		propose_sync(leader, seq);
	ck_assert(run_until(holding, f, 10000));

	f_partitioned = false;
	toy_gate(&f->toy, false);
	propose_sync(leader, seq);
	assert_caught_up(f, leader);
	ck_assert_uint_ge(f->toy.restores, 1);
	ck_assert(!f->c.holding);
	ck_assert_uint_eq(f->fatals, 0);
	assert_no_violations();
}
END_TEST

/*
 * A follower that takes a while to receive, store and restore a snapshot
 * rejects the leader's heartbeats meanwhile, and libraft 0.22.1's leader
 * sends the snapshot again at each (loading it from disk each time): one
 * install is outstanding at a time (consensus/snapshot.c).
 */
START_TEST(test_consensus_one_snapshot_install_at_a_time)
{
	struct node *leader, *late = &cl->nodes[3];
	unsigned i;

	cl->threshold = 16;
	cl->trailing = 8;
	for (i = 0; i < NODES; i++)
		cl->nodes[i].toy.pad = (size_t)48 << 20;
	leader = three_nodes();
	for (i = 0; i < 40; i++)
		propose_sync(leader, i);
	ck_assert(run_until(has_snapshot, leader, 20000));
	node_start(3, false);
	add_voter(leader, late);
	assert_caught_up(late, leader);
	ck_assert_uint_eq(late->toy.restores, 1);
	ck_assert_uint_eq(leader->c.installs_sent, 1);
	for (i = 40; i < 50; i++)
		propose_sync(leader, i);
	assert_caught_up(late, leader);
	ck_assert_uint_eq(late->fatals, 0);
}
END_TEST

static bool all_done(void *arg)
{
	struct result *r = arg;
	unsigned i;

	for (i = 0; i < 300; i++)
		if (!r[i].done)
			return false;
	return true;
}

/* With group commit, a burst of entries committed together is applied in
 * fewer commits than entries, on the leader and on a follower catching up;
 * a proposal is reported only once its entry is committed; and every node
 * ends with all it applied committed. */
START_TEST(test_consensus_burst_commits_in_groups)
{
	static struct result r[300];
	struct node *leader, *f = &cl->nodes[2];
	uint64_t flushes, count;
	unsigned i;

	cl->group = true;
	leader = three_nodes();
	flushes = leader->toy.flushes;
	for (i = 0; i < 300; i++) {
		ck_assert_int_eq(propose(leader, i, &r[i]), 0);
		r[i].toy = &leader->toy;
	}
	ck_assert(run_until(all_done, r, 20000));
	for (i = 0; i < 300; i++) {
		ck_assert_int_eq(r[i].status, 0);
		ck_assert_uint_eq(r[i].ncalls, 1);
		ck_assert_uint_ge(r[i].committed, r[i].index);
	}
	ck_assert_uint_lt(leader->toy.flushes - flushes, 300);
	assert_caught_up(f, leader);

	/* A follower that missed a burst catches up in groups too. */
	node_close(f);
	for (i = 0; i < 300; i++) {
		ck_assert_int_eq(propose(leader, MAX_SEQ + i, &r[i]), 0);
		r[i].toy = &leader->toy;
	}
	ck_assert(run_until(all_done, r, 20000));
	flushes = f->toy.flushes;
	count = f->toy.count;
	node_start(2, false);
	assert_caught_up(f, leader);
	ck_assert_uint_eq(f->toy.count - count, 300);
	ck_assert_uint_lt(f->toy.flushes - flushes, 300 / 4);
	for (i = 0; i < NODES; i++) {
		struct toy *t = &cl->nodes[i].toy;
		ck_assert_uint_eq(t->pending, 0);
		ck_assert_uint_eq(t->c_applied, t->applied);
		ck_assert_uint_eq(cl->nodes[i].fatals, 0);
	}
	assert_no_violations();
}
END_TEST

/* A follower commits what it applied only once the append that was in flight
 * meanwhile is stored, that is once it could answer the leader for it: its
 * commit no longer holds back the answer the leader's commit waits for. One
 * proposal at a time, each AppendEntries brings a new entry and the commit of
 * the one before: the case where the follower used to commit first. And the
 * held commit is not left behind: every follower ends with all it applied
 * committed, without more traffic. */
START_TEST(test_consensus_follower_commits_after_its_append)
{
	struct node *leader;
	unsigned i;

	cl->group = true;
	leader = three_nodes();
	for (i = 0; i < 100; i++)
		propose_sync(leader, i);
	assert_caught_up(&cl->nodes[1], leader);
	assert_caught_up(&cl->nodes[2], leader);
	for (i = 1; i < 3; i++) {
		struct toy *t = &cl->nodes[i].toy;
		ck_assert_uint_ge(t->follower_flushes, 10);
		ck_assert_uint_eq(t->early_flushes, 0);
		ck_assert_uint_eq(t->pending, 0);
		ck_assert_uint_eq(t->c_applied, t->applied);
		ck_assert_uint_eq(cl->nodes[i].fatals, 0);
	}
	assert_no_violations();
}
END_TEST

/* A failed group commit takes the fatal path, like a failed apply; the
 * proposals whose entries it held are not reported applied. */
START_TEST(test_consensus_commit_failure_is_fatal)
{
	struct node *leader;
	static struct result r1, r2;
	uint64_t committed;

	cl->group = true;
	node_start(0, true);
	leader = wait_leader();
	committed = propose_sync(leader, 1);
	leader->toy.flush_fail = true;
	ck_assert_int_eq(propose(leader, 2, &r1), 0);
	run_for(300);
	ck_assert_uint_eq(leader->fatals, 1);
	ck_assert(r1.done);
	ck_assert_int_eq(r1.status, ERR_UNAVAILABLE);
	ck_assert_uint_eq(leader->toy.c_applied, committed);
	ck_assert_int_eq(propose(leader, 3, &r2), ERR_UNAVAILABLE);
}
END_TEST

START_TEST(test_consensus_wrong_secret_cannot_join)
{
	struct node *leader, *intruder = &cl->nodes[1];
	uint8_t other[TRANSPORT_SECRET_LEN];
	struct result r;
	unsigned i;

	memset(other, 'x', sizeof other);
	node_start(0, true);
	leader = wait_leader();
	node_start_with(1, false, other);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(consensus_add(&leader->c, intruder->id, intruder->addr, done_cb, &r), 0);
	ck_assert(run_until(flag_set, &r.done, 10000));
	ck_assert_int_eq(r.status, 0);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(consensus_assign(&leader->c, intruder->id, CONSENSUS_STANDBY, done_cb, &r),
			 0);
	ck_assert(run_until(flag_set, &r.done, 10000));
	ck_assert_int_eq(r.status, 0);
	for (i = 0; i < 10; i++)
		propose_sync(leader, i);
	run_for(500);
	ck_assert_uint_eq(intruder->toy.count, 0);
	ck_assert_uint_eq(consensus_last_applied(&intruder->c), 0);
	ck_assert_uint_gt(leader->c.transport.rejected + intruder->c.transport.rejected, 0);
	ck_assert(consensus_is_leader(&leader->c));
	ck_assert_uint_eq(leader->toy.count, 10);
}
END_TEST

START_TEST(test_consensus_close_cancels_pending_requests)
{
	struct node *leader;
	struct result r, b1, b2, c1, c2;

	node_start(0, true);
	leader = wait_leader();
	ck_assert_int_eq(propose(leader, 1, &r), 0);
	memset(&b1, 0, sizeof b1);
	memset(&b2, 0, sizeof b2);
	ck_assert_int_eq(consensus_barrier(&leader->c, done_cb, &b1), 0);
	ck_assert_int_eq(consensus_barrier(&leader->c, done_cb, &b2), 0);
	memset(&c1, 0, sizeof c1);
	memset(&c2, 0, sizeof c2);
	ck_assert_int_eq(consensus_add(&leader->c, 8, "127.0.0.1:8", done_cb, &c1), 0);
	ck_assert_int_eq(consensus_add(&leader->c, 9, "127.0.0.1:9", done_cb, &c2), 0);
	consensus_close(&leader->c, on_closed);
	ck_assert(run_until(node_stopped, leader, 10000));
	ck_assert(r.done && b1.done && b2.done);
	/* The change in flight may have committed; the queued one did not start. */
	ck_assert(c1.done && c2.done);
	ck_assert_uint_eq(c1.ncalls + c2.ncalls, 2);
	ck_assert(c1.status == 0 || c1.status == ERR_CANCELED);
	ck_assert_int_eq(c2.status, ERR_CANCELED);
	ck_assert_int_eq(r.status, ERR_CANCELED);
	ck_assert_int_eq(b1.status, ERR_CANCELED);
	ck_assert_int_eq(b2.status, ERR_CANCELED);
	ck_assert_uint_eq(r.ncalls + b1.ncalls + b2.ncalls, 3);
}
END_TEST

START_TEST(test_consensus_apply_failure_is_fatal)
{
	struct node *leader;
	/* Static: the stalled proposals complete (cancelled) in the teardown,
	 * after this function has returned. */
	static struct result r1, r2;

	memset(&r1, 0, sizeof r1);
	memset(&r2, 0, sizeof r2);
	node_start(0, true);
	leader = wait_leader();
	propose_sync(leader, 1);
	leader->toy.fail = true;
	ck_assert_int_eq(propose(leader, 2, &r1), 0);
	ck_assert_int_eq(propose(leader, 3, &r2), 0);
	run_for(300);
	ck_assert_uint_eq(leader->fatals, 1);
	ck_assert(!r1.done); /* the replica stalls; the agent must exit */
	ck_assert_int_eq(propose(leader, 4, &r2), ERR_UNAVAILABLE);
}
END_TEST

Suite *consensus_suite(void)
{
	Suite *s = suite_create("consensus");
	TCase *tc = tcase_create("cluster");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_consensus_propose_rejects_unaligned_entries);
	tcase_add_test(tc, test_consensus_bootstrap_twice_is_exists);
	tcase_add_test(tc, test_consensus_init_refuses_a_state_machine_without_snapshot_parts);
	tcase_add_test(tc, test_consensus_apply_index_is_log_index);
	tcase_add_test(tc, test_consensus_change_waits_for_a_commit_of_the_term);
	tcase_add_test(tc, test_consensus_cluster_replicates_to_followers);
	tcase_add_test(tc, test_consensus_barriers_batch_on_leader);
	tcase_add_loop_test(tc, test_consensus_failover_and_restart_replays, 0, 2);
	tcase_add_loop_test(tc, test_consensus_late_node_gets_snapshot, 0, 2);
	tcase_add_test(tc, test_consensus_snapshot_is_written_off_the_loop);
	tcase_add_test(tc, test_consensus_install_held_while_own_snapshot_is_written);
	tcase_add_test(tc, test_consensus_snapshots_space_out_as_they_grow);
	tcase_add_test(tc, test_consensus_close_waits_for_a_snapshot_being_written);
	tcase_add_test(tc, test_consensus_one_snapshot_install_at_a_time);
	tcase_add_test(tc, test_consensus_burst_commits_in_groups);
	tcase_add_test(tc, test_consensus_follower_commits_after_its_append);
	tcase_add_test(tc, test_consensus_commit_failure_is_fatal);
	tcase_add_test(tc, test_consensus_wrong_secret_cannot_join);
	tcase_add_test(tc, test_consensus_close_cancels_pending_requests);
	tcase_add_test(tc, test_consensus_apply_failure_is_fatal);
	suite_add_tcase(s, tc);
	return s;
}
