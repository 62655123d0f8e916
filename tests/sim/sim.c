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

		if (!raft_fixture_alive(&sim->f, l) || raft_state(r) != RAFT_LEADER || c->n == 0)
			continue;
		for (unsigned i = 0; i < sim->n; i++) {
			struct sim_server *s = &sim->servers[i];
			bool in = false;

			for (unsigned k = 0; k < c->n; k++)
				in |= c->servers[k].id == (raft_id)i + 1;
			if (in) {
				s->added = true;
			} else if (s->added && !s->retired) {
				s->retired = true;
				sim->stats.retired++;
				if (raft_fixture_alive(&sim->f, i))
					raft_fixture_kill(&sim->f, i);
			}
		}
	}
}

/* No append nor snapshot write of server i is pending: every entry raft
 * asked to persist is persisted and no snapshot is being taken or installed.
 * (A pending snapshot load, for an install sent to a follower, may complete
 * after a later write: libraft expects that, legacyLoadSnapshotCb.) */
static bool disk_idle(struct sim *sim, unsigned i)
{
	struct raft *r = sim_raft(sim, i);

	return r->last_stored == raft_last_index(r) && !r->legacy.snapshot_taking &&
	       !r->legacy.snapshot_install;
}

void sim_set_disk_latency(struct sim *sim, unsigned i, unsigned msecs)
{
	struct sim_server *s = &sim->servers[i];

	s->disk_target = msecs;
	if (msecs >= s->disk_latency || disk_idle(sim, i)) {
		s->disk_latency = msecs;
		raft_fixture_set_disk_latency(&sim->f, i, msecs);
	}
}

void sim_settle_disks(struct sim *sim)
{
	for (unsigned i = 0; i < sim->n; i++) {
		struct sim_server *s = &sim->servers[i];

		if (s->disk_target < s->disk_latency && disk_idle(sim, i)) {
			s->disk_latency = s->disk_target;
			raft_fixture_set_disk_latency(&sim->f, i, s->disk_target);
		}
	}
}

/* The server whose raft_io this is (raft_init sets io->data). */
static struct sim_server *server_of(struct raft_io *io)
{
	struct raft *r = io->data;

	return r->fsm->data;
}

/*
 * Two InstallSnapshot messages libraft 0.22.1 mishandles, which the
 * simulation loses instead (the network may lose any message; the leader
 * sends it again after raft_set_install_snapshot_timeout):
 *
 * - one that arrives while the receiver is still writing a snapshot of its
 *   own (legacy.c): raft's core restores its log to the installed snapshot at
 *   once (replication.c, replicationInstallSnapshot) while the legacy layer
 *   parks the write of the install in snapshot_pending; when the own
 *   snapshot's write completes, takeSnapshotCb reports that older snapshot to
 *   the core, whose log no longer has its index (trail.c, TrailSnapshot
 *   asserts `last_term != 0`), then clears snapshot_pending before reading it
 *   and calls legacyPersistSnapshotStart(NULL): a read of NULL->r at address
 *   0x48 (Debian's build has no assertions and crashes there, seed 79);
 * - one that arrives while an install is in flight (r->snapshot.installing):
 *   replicationInstallSnapshot ignores it but reports it as asynchronous, so
 *   neither recvInstallSnapshot nor the legacy recvCb frees its data and
 *   configuration, a leak LeakSanitizer reports.
 */
static void recv_filter(struct raft_io *io, struct raft_message *m)
{
	struct raft *r = io->data;
	struct sim_server *s = server_of(io);

	if (m->type == RAFT_INSTALL_SNAPSHOT &&
	    (r->legacy.snapshot_taking || r->snapshot.installing)) {
		/* What raft's recvCb frees when it drops a message. */
		raft_configuration_close(&m->install_snapshot.conf);
		raft_free(m->install_snapshot.data.base);
		s->installs_dropped++;
		s->sim->stats.installs_dropped++;
		return;
	}
	s->recv(io, m);
}

static int io_start_filtered(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
			     raft_io_recv_cb recv)
{
	struct sim_server *s = server_of(io);

	s->recv = recv;
	return s->io_start(io, msecs, tick, recv_filter);
}

/*
 * The disk of raft_fixture must complete one server's writes in the order it
 * was given them, as a real disk does and as libraft requires (see
 * sim_set_disk_latency): every append and snapshot put goes through these
 * wrappers, which keep the writes in issue order and fail the run if one
 * completes before an earlier one.
 */
/* Records a write; req->data points to the record until it completes (raft
 * reads req->data only in its callback, the fixture never). */
static struct sim_write *write_push(struct sim_server *s, void *req, void **data)
{
	struct sim_write *w;

	SIM_ASSERT(s->sim, s->writes_n < SIM_MAX_WRITES, "server %u: too many disk writes", s->i);
	w = &s->writes[(s->writes_head + s->writes_n++) % SIM_MAX_WRITES];
	w->s = s;
	w->req = req;
	w->data = *data;
	*data = w;
	return w;
}

/* A write that failed to start never completes: it is the newest. */
static void write_unpush(struct sim_write *w, void **data)
{
	*data = w->data;
	w->s->writes_n--;
}

/* The completed write, which must be the oldest one pending. */
static struct sim_write write_pop(struct sim_write *w, void **data)
{
	struct sim_server *s = w->s;
	struct sim_write done = *w;

	SIM_ASSERT(s->sim, s->writes_n > 0 && w == &s->writes[s->writes_head],
		   "server %u: a disk write completed before an earlier one (%u pending)", s->i,
		   s->writes_n);
	*data = w->data;
	s->writes_head = (s->writes_head + 1) % SIM_MAX_WRITES;
	s->writes_n--;
	return done;
}

static void append_done(struct raft_io_append *req, int status)
{
	struct sim_write w = write_pop(req->data, &req->data);

	w.append_cb(req, status);
}

static int append_ordered(struct raft_io *io, struct raft_io_append *req,
			  const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
	struct sim_server *s = server_of(io);
	struct sim_write *w = write_push(s, req, &req->data);
	int rv;

	w->append_cb = cb;
	rv = s->io_append(io, req, entries, n, append_done);
	if (rv != 0)
		write_unpush(w, &req->data);
	return rv;
}

static void put_done(struct raft_io_snapshot_put *req, int status)
{
	struct sim_write w = write_pop(req->data, &req->data);

	w.put_cb(req, status);
}

static int put_ordered(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
		       const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
	struct sim_server *s = server_of(io);
	struct sim_write *w = write_push(s, req, &req->data);
	int rv;

	w->put_cb = cb;
	rv = s->io_snapshot_put(io, trailing, req, snapshot, put_done);
	if (rv != 0)
		write_unpush(w, &req->data);
	return rv;
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
	int rv;

	*result = NULL;
	rv = s->sm.apply(&s->sm, index, buf->base, buf->len);
	/* The store fails only on environmental errors, which a simulation
	 * with a growing map on tmpfs never has: any is a bug. */
	SIM_ASSERT(sim, rv == 0, "server %u apply index %llu: %s", s->i, (unsigned long long)index,
		   s->sm.errmsg(&s->sm));
	sim->stats.applies++;
	sim_after_apply(sim, s, index, buf->base, buf->len);
	return 0;
}

/* raft owns what we return (fsm version 1). */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct sim_server *s = fsm->data;
	struct raft_buffer *out;
	struct buf b;
	int rv;

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
	s->disk_latency = s->disk_target = 10; /* raft_fixture's default */
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

	sim->servers[i].io_start = r->io->start;
	r->io->start = io_start_filtered;
	sim->servers[i].io_append = r->io->append;
	r->io->append = append_ordered;
	sim->servers[i].io_snapshot_put = r->io->snapshot_put;
	r->io->snapshot_put = put_ordered;
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

void sim_close(struct sim *sim)
{
	unsigned i;

	/* Closing the fixture flushes pending I/O, which may still apply
	 * entries: the stores close after it. */
	raft_fixture_close(&sim->f);
	for (i = 0; i < sim->n; i++)
		server_close(&sim->servers[i]);
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
