/*
 * The simulated cluster of tests/sim/sim.h: the seeded generator, one real
 * state store per server, and the raft FSM adapter over each store's apply
 * loop — a copy of consensus/fsm.c (which we do not link: consensus needs the
 * libuv transport, and raft_fixture brings its own raft_io) that also reports
 * every apply and restore to the invariant checks.
 */
#include "config.h"

#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>
#include <raft.h>
#include <raft/fixture.h>

#include "common/error.h"
#include "statestore/apply.h"
#include "statestore/store.h"
#include "tests/sim/sim.h"

/* xorshift64*, as in tests/unit/statestore. */
uint64_t sim_rand(struct sim *sim)
{
	sim->rng ^= sim->rng >> 12;
	sim->rng ^= sim->rng << 25;
	sim->rng ^= sim->rng >> 27;
	return sim->rng * 2685821657736338717ULL;
}

uint64_t sim_below(struct sim *sim, uint64_t n)
{
	return n == 0 ? 0 : sim_rand(sim) % n;
}

/* FNV-1a over the 8 bytes of v. */
void sim_trace(struct sim *sim, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		sim->trace ^= (v >> (8 * i)) & 0xff;
		sim->trace *= 1099511628211ULL;
	}
}

struct raft *sim_raft(struct sim *sim, unsigned i)
{
	return raft_fixture_get(&sim->f, i);
}

void sim_retire_removed(struct sim *sim)
{
	for (unsigned l = 0; l < sim->n; l++) {
		struct raft *r = sim_raft(sim, l);
		const struct raft_configuration *c = &r->configuration_committed;
		raft_index at = r->configuration_committed_index;

		if (!raft_fixture_alive(&sim->f, l) || raft_state(r) != RAFT_LEADER || c->n == 0)
			continue;
		for (unsigned i = 0; i < sim->n; i++) {
			struct sim_server *s = &sim->servers[i];
			bool in = false;

			for (unsigned k = 0; k < c->n; k++)
				in |= c->servers[k].id == (raft_id)i + 1;
			/* A leader may still know an older committed
			 * configuration (after a restart): only a later one
			 * than the one that had i tells its removal. */
			if (in) {
				s->added = true;
				if (at > s->added_at)
					s->added_at = at;
			} else if (s->added && at > s->added_at && !s->retired) {
				if (getenv("LOGOS_SIM_TRACE"))
					fprintf(stderr,
						"[%llu] RETIRE server %u: not in the configuration "
						"of leader %u committed at %llu (had it at %llu)\n",
						(unsigned long long)raft_fixture_time(&sim->f), i,
						l, (unsigned long long)at,
						(unsigned long long)s->added_at);
				s->retired = true;
				sim->stats.retired++;
				if (raft_fixture_alive(&sim->f, i))
					raft_fixture_kill(&sim->f, i);
			}
		}
	}
}

/* During fsm->apply the entry's index is raft_last_applied() + 1: libraft
 * advances last_applied after the FSM returns, for every entry type
 * (consensus/fsm.c explains and tests/unit/consensus checks it). */
static void quiet_emit(struct raft_tracer *t, int type, const void *info)
{
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	struct sim_server *s = fsm->data;
	struct sim *sim = s->sim;
	uint64_t index = raft_last_applied(sim_raft(sim, s->i)) + 1;
	/* After a restart raft replays entries the store already applied
	 * (DESIGN §4.4): the apply loop skips them. */
	bool replay = index <= s->sm.applied_index(&s->sm);
	int rv;

	*result = NULL;
	rv = s->sm.apply(&s->sm, index, buf->base, buf->len);
	/* The store fails only on environmental errors, which a simulation
	 * with a growing map on tmpfs never has: any is a bug. */
	SIM_ASSERT(sim, rv == 0, "server %u apply index %llu: %s", s->i, (unsigned long long)index,
		   s->sm.errmsg(&s->sm));
	sim->stats.applies++;
	if (replay) {
		sim->stats.replays++;
		sim_after_replay(sim, s, index, buf->base, buf->len);
	} else {
		sim_after_apply(sim, s, index, buf->base, buf->len);
	}
	return 0;
}

/* raft owns what we return (fsm version 1). Refused while a configuration
 * change that raft applied is still to be committed in its own state, as
 * consensus/fsm.c does (it explains why). */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct sim_server *s = fsm->data;
	struct raft *r = sim_raft(s->sim, s->i);
	struct raft_buffer *out;
	struct buf b;
	int rv;

	if (r->configuration_uncommitted_index != 0 &&
	    r->configuration_uncommitted_index <= raft_last_applied(r)) {
		s->sim->stats.snapshots_deferred++;
		return RAFT_BUSY;
	}

	buf_init(&b);
	rv = s->sm.snapshot(&s->sm, &b);
	SIM_ASSERT(s->sim, rv == 0, "server %u snapshot: %s", s->i, s->sm.errmsg(&s->sm));
	out = raft_malloc(sizeof *out);
	ck_assert_ptr_nonnull(out);
	out->len = b.len;
	out->base = raft_malloc(b.len > 0 ? b.len : 1);
	ck_assert_ptr_nonnull(out->base);
	memcpy(out->base, b.data, b.len);
	buf_release(&b);
	*bufs = out;
	*n_bufs = 1;
	s->snapshots++;
	s->sim->stats.snapshots++;
	return 0;
}

/* On success the FSM owns buf->base and frees it; on failure raft keeps it. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct sim_server *s = fsm->data;
	int rv;

	rv = s->sm.restore(&s->sm, buf->base, buf->len);
	/* Snapshots come from our own stores through memory: never damaged. */
	SIM_ASSERT(s->sim, rv == 0, "server %u restore: %s", s->i, s->sm.errmsg(&s->sm));
	raft_free(buf->base);
	s->restores++;
	s->sim->stats.restores++;
	sim_after_restore(s->sim, s);
	return 0;
}

static void server_open(struct sim *sim, unsigned i, const char *root)
{
	/* A small initial map: 3-5 stores per seed, hundreds of seeds. It grows
	 * when needed. */
	static const struct store_options opts = {.map_size = 8u << 20, .map_size_max = 0};
	struct sim_server *s = &sim->servers[i];
	int rv;

	memset(s, 0, sizeof *s);
	s->sim = sim;
	s->i = i;
	rv = snprintf(s->dir, sizeof s->dir, "%s/s%u-XXXXXX", root, i);
	ck_assert(rv > 0 && (size_t)rv < sizeof s->dir);
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	rv = store_open(&s->store, s->dir, &opts);
	SIM_ASSERT(sim, rv == 0, "open store: %s", s->store.errmsg);
	applier_init(&s->applier, &s->store, &s->sm, NULL, NULL);
	s->open = true;
	snprintf(s->address, sizeof s->address, "%u", i + 1); /* the fixture's */
	s->disk_latency = s->disk_target = 10;                /* raft_fixture's default */
	s->fsm.version = 1;
	s->fsm.data = s;
	s->fsm.apply = fsm_apply;
	s->fsm.snapshot = fsm_snapshot;
	s->fsm.restore = fsm_restore;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void server_close(struct sim_server *s)
{
	if (!s->open)
		return;
	applier_close(&s->applier);
	store_close(&s->store);
	nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	s->open = false;
}

/* raft's settings for server i, before it starts. The election timeout is
 * drawn by the caller (the draw order is part of a seed's schedule). */
static void server_configure(struct sim *sim, unsigned i)
{
	struct raft *r = sim_raft(sim, i);

	sim_io_wrap(sim, i);
	/* The fixture traces every step to stderr: half a million lines per
	 * CI run. A failing seed is replayed with LOGOS_SIM_TRACE=1 to see
	 * them. */
	if (getenv("LOGOS_SIM_TRACE") == NULL)
		r->tracer = &sim->quiet;
	/* Low thresholds, so that snapshots are taken and installed often
	 * (reliability.md F11). */
	raft_set_snapshot_threshold(r, sim->opts.snapshots ? SIM_SNAP_THRESH : 1000000);
	raft_set_snapshot_trailing(r, SIM_SNAP_TRAIL);
	/* An install lost to a partition is retried after this long
	 * (libraft's default, 30 s, is the whole liveness bound). */
	raft_set_install_snapshot_timeout(r, SIM_INSTALL_TIMEOUT);
}

void sim_init(struct sim *sim, uint64_t seed, unsigned n, const struct sim_options *opts,
	      const char *root)
{
	struct raft_configuration conf;
	unsigned i;
	int rv;

	memset(sim, 0, sizeof *sim);
	sim->seed = seed;
	/* xorshift must not start at 0; mix the seed so that neighbouring
	 * seeds give unrelated schedules. */
	sim->rng = (seed + 1) * 0x9e3779b97f4a7c15ULL;
	if (sim->rng == 0)
		sim->rng = 1;
	sim->trace = 14695981039346656037ULL;
	sim->n = n;
	sim->opts = *opts;
	sim->root = root;
	sim->next_request_id = 1;
	buf_init(&sim->scratch);

	sim->quiet.version = 2;
	sim->quiet.emit = quiet_emit;
	rv = raft_fixture_init(&sim->f);
	ck_assert_int_eq(rv, 0);
	for (i = 0; i < n; i++) {
		server_open(sim, i, root);
		sim->servers[i].added = true; /* bootstrapped */
		rv = raft_fixture_grow(&sim->f, &sim->servers[i].fsm);
		ck_assert_int_eq(rv, 0);
	}
	rv = raft_fixture_configuration(&sim->f, n, &conf);
	ck_assert_int_eq(rv, 0);
	rv = raft_fixture_bootstrap(&sim->f, &conf);
	ck_assert_int_eq(rv, 0);
	raft_configuration_close(&conf);
	for (i = 0; i < n; i++) {
		server_configure(sim, i);
		sim->servers[i].io.persisted = 1; /* the bootstrap configuration */
		raft_fixture_set_randomized_election_timeout(&sim->f, i,
							     1000 + (unsigned)sim_below(sim, 1000));
	}
	rv = raft_fixture_start(&sim->f);
	ck_assert_int_eq(rv, 0);
	raft_fixture_hook(&sim->f, sim_hook);
}

unsigned sim_grow(struct sim *sim)
{
	unsigned i = sim->n;
	int rv;

	ck_assert_uint_lt(i, SIM_MAX_SERVERS);
	server_open(sim, i, sim->root);
	rv = raft_fixture_grow(&sim->f, &sim->servers[i].fsm);
	ck_assert_int_eq(rv, 0);
	sim->n++;
	server_configure(sim, i);
	raft_fixture_set_randomized_election_timeout(&sim->f, i,
						     1000 + (unsigned)sim_below(sim, 1000));
	/* Not bootstrapped: it starts with an empty log and no configuration,
	 * and waits for a leader to send it entries or a snapshot. */
	rv = raft_start(sim_raft(sim, i));
	SIM_ASSERT(sim, rv == 0, "start joining server %u: %d", i, rv);
	sim->stats.joined++;
	return i;
}

void sim_crash(struct sim *sim, unsigned i)
{
	struct sim_server *s = &sim->servers[i];

	if (s->crashed || s->retired)
		return;
	if (raft_fixture_alive(&sim->f, i))
		raft_fixture_kill(&sim->f, i);
	s->crashed = true;
}

static void restart(struct sim *sim, unsigned i)
{
	static const struct store_options opts = {.map_size = 8u << 20, .map_size_max = 0};
	struct sim_server *s = &sim->servers[i];
	struct raft *r = sim_raft(sim, i);
	struct raft_io *io = r->io;
	struct raft_tracer *tracer = r->tracer;
	int rv;

	/* The process dies: raft's memory, and the store's but for what LMDB
	 * committed. Pending client requests fail (legacy.c, raft_close). */
	raft_close(r, NULL);
	applier_close(&s->applier);
	store_close(&s->store);
	rv = store_open(&s->store, s->dir, &opts);
	SIM_ASSERT(sim, rv == 0, "server %u: reopen store: %s", i, s->store.errmsg);
	applier_init(&s->applier, &s->store, &s->sm, NULL, NULL);
	/* A new process: raft_fixture's settings (serverInit), ours, and
	 * raft_start loads the persisted state through the same raft_io. */
	rv = raft_init(r, io, &s->fsm, (raft_id)i + 1, s->address);
	SIM_ASSERT(sim, rv == 0, "server %u: raft_init: %d", i, rv);
	r->tracer = tracer;
	raft_set_election_timeout(r, 1000);
	raft_set_heartbeat_timeout(r, 100);
	raft_set_snapshot_threshold(r, sim->opts.snapshots ? SIM_SNAP_THRESH : 1000000);
	raft_set_snapshot_trailing(r, SIM_SNAP_TRAIL);
	raft_set_install_snapshot_timeout(r, SIM_INSTALL_TIMEOUT);
	if (getenv("LOGOS_SIM_TRACE"))
		fprintf(stderr, "[%llu] RESTART server %u store applied %llu\n",
			(unsigned long long)raft_fixture_time(&sim->f), i,
			(unsigned long long)store_applied_index(&s->store));
	rv = raft_start(r);
	SIM_ASSERT(sim, rv == 0, "server %u: restart: %d", i, rv);
	if (getenv("LOGOS_SIM_TRACE"))
		fprintf(stderr,
			"[%llu] RESTARTED server %u: configuration committed at %llu, "
			"uncommitted at %llu, last applied %llu\n",
			(unsigned long long)raft_fixture_time(&sim->f), i,
			(unsigned long long)r->configuration_committed_index,
			(unsigned long long)r->configuration_uncommitted_index,
			(unsigned long long)raft_last_applied(r));
	/* Started from the persisted state: what it applied is what raft or
	 * the store kept, never more than before. */
	sim_after_restore(sim, s);
	s->crashed = false;
	s->restarts++;
	sim->stats.restarts++;
	if (!s->retired)
		raft_fixture_revive(&sim->f, i);
}

void sim_restart_crashed(struct sim *sim)
{
	for (unsigned i = 0; i < sim->n; i++)
		if (sim->servers[i].crashed && sim_io_idle(sim, i))
			restart(sim, i);
}

void sim_close(struct sim *sim)
{
	unsigned i;

	/* Closing the fixture flushes pending I/O, which may still apply
	 * entries: the stores close after it. */
	sim->closing = true;
	raft_fixture_close(&sim->f);
	for (i = 0; i < sim->n; i++) {
		sim_io_close(sim, i);
		server_close(&sim->servers[i]);
	}
	for (size_t k = 0; k < sim->n_props; k++)
		free(sim->props[k]);
	free(sim->props);
	for (size_t k = 0; k < sim->n_changes; k++)
		free(sim->changes[k]);
	free(sim->changes);
	free(sim->leaders);
	free(sim->digests);
	free(sim->have_digest);
	buf_release(&sim->scratch);
}
