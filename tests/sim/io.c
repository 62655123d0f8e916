/*
 * The simulation's decorators of raft_fixture's in-memory raft_io
 * (tests/sim/sim.h): each server's raft_io methods are wrapped before it
 * starts, so that
 *
 *   - its disk completes writes in the order they were issued, as libraft
 *     requires and a real disk does (a latency decrease waits for an idle
 *     disk; a write that completes before an earlier one fails the run);
 *   - two InstallSnapshot messages libraft 0.22.1 mishandles are lost;
 *   - what the fixture keeps as the server's persisted log is exactly what
 *     raft was told is persisted, so that a server can be restarted from it
 *     (sim_crash): raft_fixture truncates at once while earlier appends are
 *     still pending, and after an installed snapshot it counts entries from
 *     index 1 when truncating and loading;
 *   - the server's requests still in flight are known, so that a restart
 *     waits until none is left whose callback would reach the closed raft.
 *
 * raft reads a request's `data` only in its callback and the fixture never:
 * while a request is in flight its `data` points to our record of it, and is
 * given back before raft's callback runs.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <raft.h>
#include <raft/fixture.h>

#include "tests/sim/sim.h"

/* The server whose raft_io this is (raft_init sets io->data). */
static struct sim_server *server_of(struct raft_io *io)
{
	struct raft *r = io->data;

	return r->fsm->data;
}

/* No disk request of server i is pending: every entry raft asked to persist
 * is persisted, no snapshot is being taken or installed, and no snapshot is
 * being loaded (a load that completed after a later snapshot write would
 * return that newer snapshot, which libraft mishandles: get_done). */
static bool disk_idle(struct sim *sim, unsigned i)
{
	struct raft *r = sim_raft(sim, i);

	return r->last_stored == raft_last_index(r) && !r->legacy.snapshot_taking &&
	       !r->legacy.snapshot_install && sim->servers[i].io.n_gets == 0;
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

/*
 * libraft 0.22.1 also mishandles an AppendEntries whose previous entry lies
 * below the first entry the receiver's log still holds, while the receiver's
 * snapshot covers it (trail.c: TrailTermOf knows only the snapshot's own
 * index below the log): the receiver checks the previous entry against a
 * term it has forgotten, and
 *
 * - with a previous index of 0 (the first entries sent to a server that
 *   joined with an empty log, arriving late, after its snapshot dropped index
 *   1), checkConflictingEntries (replication.c) finds no entry at index 1,
 *   takes all the entries for new ones and TrailAppend appends them after the
 *   last index (trailEnsureRecord asserts that terms never decrease; Debian's
 *   build goes on with a log whose indexes are wrong and crashes; seed 350);
 * - else it rejects the entries for a missing previous entry, the leader
 *   walks back to its own snapshot, which the receiver refuses as older than
 *   its own ("have more recent snapshot"), and the receiver never catches up
 *   (a follower whose snapshot is more recent than the new leader's; seed
 *   3910).
 *
 * Entries up to the receiver's snapshot are committed, so equal to what it
 * has: the simulation gives it the message a leader that knew its snapshot
 * would send, starting after the snapshot (previous entry: the snapshot's
 * index and term).
 */
static void skip_snapshotted(struct raft *r, struct raft_append_entries *a)
{
	raft_index last = r->trail.snapshot.index;
	unsigned k = a->prev_log_index + a->n_entries <= last
			     ? a->n_entries
			     : (unsigned)(last - a->prev_log_index);

	if (k == a->n_entries && a->n_entries > 0) {
		/* The fixture delivers a message's entries as one batch. */
		raft_free(a->entries[0].batch);
		raft_free(a->entries);
		a->entries = NULL;
	} else if (k > 0) {
		memmove(a->entries, a->entries + k, (a->n_entries - k) * sizeof *a->entries);
	}
	a->n_entries -= k;
	a->prev_log_index = last;
	a->prev_log_term = r->trail.snapshot.term;
}

/*
 * And a late AppendEntries (the network reorders) can lower the receiver's
 * commit index below what it applied: replicationAppend (replication.c) sets
 * it to min(leader commit, last index of the message) whenever the leader's
 * commit is higher, even when the message ends below the current commit
 * index. legacyApply asserts `last_applied <= commit_index`; Debian's build
 * goes on, may take a snapshot labelled with the lower index over a state at
 * the higher one, and later frees a log entry batch twice (logRelease from
 * legacySendMessageCb; seed 120230 at 600 steps). A commit index never goes
 * back in Raft: such a message's leader commit is lowered to the receiver's
 * commit index, which leaves the commit index as it is.
 */
static void keep_commit(struct raft *r, struct raft_append_entries *a)
{
	if (a->leader_commit > r->commit_index &&
	    a->prev_log_index + a->n_entries < r->commit_index)
		a->leader_commit = r->commit_index;
}

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
	/* (A lower term is rejected before the log is looked at.) */
	if (m->type == RAFT_APPEND_ENTRIES && m->append_entries.term >= r->current_term &&
	    m->append_entries.prev_log_index < r->trail.snapshot.index &&
	    m->append_entries.prev_log_index <= r->trail.offset) {
		skip_snapshotted(r, &m->append_entries);
		s->sim->stats.appends_trimmed++;
	}
	if (m->type == RAFT_APPEND_ENTRIES)
		keep_commit(r, &m->append_entries);
	s->io.recv(io, m);
}

static int start_filtered(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
			  raft_io_recv_cb recv)
{
	struct sim_server *s = server_of(io);

	s->io.recv = recv;
	return s->io.start(io, msecs, tick, recv_filter);
}

/* Writes, in issue order. */

static struct sim_write *write_push(struct sim_server *s, int kind)
{
	struct sim_write *w;

	SIM_ASSERT(s->sim, s->io.writes_n < SIM_MAX_WRITES, "server %u: too many disk writes",
		   s->i);
	w = &s->io.writes[(s->io.writes_head + s->io.writes_n++) % SIM_MAX_WRITES];
	memset(w, 0, sizeof *w);
	w->s = s;
	w->kind = kind;
	return w;
}

/* A write that failed to start never completes: it is the newest. */
static void write_unpush(struct sim_server *s)
{
	s->io.writes_n--;
}

/* Truncates the fixture's persisted log from `index` on, counting as the
 * fixture does: from index 1, whatever snapshot was installed. */
static void truncate_now(struct sim_server *s, struct raft_io *io, raft_index index)
{
	raft_index last = s->io.log_start + s->io.persisted - 1;
	int rv;

	if (index > last)
		return;
	rv = s->io.truncate(io, index > s->io.log_start ? index - (s->io.log_start - 1) : 1);
	SIM_ASSERT(s->sim, rv == 0, "server %u: truncate at %llu: %d", s->i,
		   (unsigned long long)index, rv);
	s->io.persisted = index > s->io.log_start ? index - s->io.log_start : 0;
}

/* The completed write, which must be the oldest one pending; then the
 * truncations raft asked for after it. */
static struct sim_write write_pop(struct sim_write *w, struct raft_io *io)
{
	struct sim_server *s = w->s;
	struct sim_write done = *w;

	SIM_ASSERT(s->sim, s->io.writes_n > 0 && w == &s->io.writes[s->io.writes_head],
		   "server %u: a disk write completed before an earlier one (%u pending)", s->i,
		   s->io.writes_n);
	s->io.writes_head = (s->io.writes_head + 1) % SIM_MAX_WRITES;
	s->io.writes_n--;
	while (s->io.writes_n > 0 && s->io.writes[s->io.writes_head].kind == SIM_WRITE_TRUNCATE) {
		raft_index index = s->io.writes[s->io.writes_head].index;

		s->io.writes_head = (s->io.writes_head + 1) % SIM_MAX_WRITES;
		s->io.writes_n--;
		truncate_now(s, io, index);
	}
	return done;
}

static void append_done(struct raft_io_append *req, int status)
{
	struct sim_write *w = req->data;
	struct sim_server *s = w->s;
	struct sim_write done;

	if (status == 0)
		s->io.persisted += w->n;
	done = write_pop(w, s->io.self);
	req->data = done.data;
	done.append_cb(req, status);
}

static int append_ordered(struct raft_io *io, struct raft_io_append *req,
			  const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
	struct sim_server *s = server_of(io);
	struct sim_write *w = write_push(s, SIM_WRITE_APPEND);
	int rv;

	w->data = req->data;
	w->append_cb = cb;
	w->n = n;
	req->data = w;
	rv = s->io.append(io, req, entries, n, append_done);
	if (rv != 0) {
		req->data = w->data;
		write_unpush(s);
	}
	return rv;
}

/* A deep copy of a snapshot, as raft_io's snapshot_get returns one. */
static struct raft_snapshot *snapshot_copy(struct sim_server *s, const struct raft_snapshot *src)
{
	struct raft_snapshot *dst = raft_calloc(1, sizeof *dst);
	size_t len = 0, off = 0;
	int rv;

	SIM_ASSERT(s->sim, dst != NULL, "server %u: copy snapshot", s->i);
	dst->index = src->index;
	dst->term = src->term;
	dst->configuration_index = src->configuration_index;
	raft_configuration_init(&dst->configuration);
	for (unsigned k = 0; k < src->configuration.n; k++) {
		const struct raft_server *srv = &src->configuration.servers[k];

		rv = raft_configuration_add(&dst->configuration, srv->id, srv->address, srv->role);
		SIM_ASSERT(s->sim, rv == 0, "server %u: copy snapshot configuration", s->i);
	}
	for (unsigned k = 0; k < src->n_bufs; k++)
		len += src->bufs[k].len;
	dst->bufs = raft_malloc(sizeof *dst->bufs);
	SIM_ASSERT(s->sim, dst->bufs != NULL, "server %u: copy snapshot", s->i);
	dst->n_bufs = 1;
	dst->bufs[0].len = len;
	dst->bufs[0].base = raft_malloc(len > 0 ? len : 1);
	SIM_ASSERT(s->sim, dst->bufs[0].base != NULL, "server %u: copy snapshot", s->i);
	for (unsigned k = 0; k < src->n_bufs; k++) {
		memcpy((char *)dst->bufs[0].base + off, src->bufs[k].base, src->bufs[k].len);
		off += src->bufs[k].len;
	}
	return dst;
}

static void snapshot_free(struct raft_snapshot *snapshot)
{
	if (snapshot == NULL)
		return;
	raft_configuration_close(&snapshot->configuration);
	for (unsigned k = 0; k < snapshot->n_bufs; k++)
		raft_free(snapshot->bufs[k].base);
	raft_free(snapshot->bufs);
	raft_free(snapshot);
}

static void put_done(struct raft_io_snapshot_put *req, int status)
{
	struct sim_write *w = req->data;
	struct sim_server *s = w->s;
	struct sim_write done;

	/* An installed snapshot (trailing 0) replaced the log: the fixture
	 * truncated it through truncate_ordered and counts from here. */
	if (status == 0 && w->trailing == 0) {
		s->io.log_start = w->index + 1;
		s->io.persisted = 0;
	}
	if (status == 0) {
		snapshot_free(s->io.snapshot);
		s->io.snapshot = snapshot_copy(s, w->snapshot);
	}
	done = write_pop(w, s->io.self);
	req->data = done.data;
	done.put_cb(req, status);
}

static int put_ordered(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
		       const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
	struct sim_server *s = server_of(io);
	struct sim_write *w = write_push(s, SIM_WRITE_PUT);
	int rv;

	w->data = req->data;
	w->put_cb = cb;
	w->trailing = trailing;
	w->index = snapshot->index;
	w->snapshot = snapshot;
	req->data = w;
	rv = s->io.snapshot_put(io, trailing, req, snapshot, put_done);
	if (rv != 0) {
		req->data = w->data;
		write_unpush(s);
	}
	return rv;
}

/*
 * raft calls truncate synchronously before the append that follows it, with
 * earlier appends possibly still pending; a disk would truncate after them.
 * So a truncation waits behind the pending writes. The fixture itself
 * truncates everything (index 1) while it completes an installed snapshot,
 * the write at the head: that one happens now.
 */
static int truncate_ordered(struct raft_io *io, raft_index index)
{
	struct sim_server *s = server_of(io);
	struct sim_write *head = &s->io.writes[s->io.writes_head];

	if (s->io.writes_n == 0 ||
	    (index == 1 && head->kind == SIM_WRITE_PUT && head->trailing == 0)) {
		truncate_now(s, io, index);
		return 0;
	}
	write_push(s, SIM_WRITE_TRUNCATE)->index = index;
	return 0;
}

/* raft_fixture loads the entries it keeps, from the first one after a
 * snapshot installed, or from index 1 even when the snapshot was taken
 * here with trailing entries, but always says they start after the
 * snapshot: say where they start.
 *
 * And it loads them as one batch, which libraft 0.22.1 mishandles: its log
 * (log.c, logRelease and destroyEntry) frees a batch once no entry *still in
 * the log* belongs to it, ignoring entries a snapshot removed from the log
 * while a send still holds them; a leader that restarted, sends loaded
 * entries and takes a snapshot then frees the batch under a pending send
 * (ASan: heap-use-after-free in the fixture's copy of the send, then a
 * double free in logRelease; seed 120230 at 600 steps). raft_uv also loads
 * entries in batches, one per segment. The simulation gives each loaded
 * entry a batch of its own. */
static void unbatch(struct sim_server *s, struct raft_entry *entries, size_t n)
{
	void *batch = n > 0 ? entries[0].batch : NULL;

	for (size_t k = 0; k < n; k++) {
		void *own = raft_malloc(entries[k].buf.len > 0 ? entries[k].buf.len : 1);

		SIM_ASSERT(s->sim, own != NULL, "server %u: load", s->i);
		memcpy(own, entries[k].buf.base, entries[k].buf.len);
		SIM_ASSERT(s->sim, entries[k].batch == batch,
			   "server %u: the fixture loaded more than one batch", s->i);
		entries[k].buf.base = own;
		entries[k].batch = own;
	}
	raft_free(batch);
}

static int load_fixed(struct raft_io *io, raft_term *term, raft_id *voted_for,
		      struct raft_snapshot **snapshot, raft_index *start_index,
		      struct raft_entry *entries[], size_t *n_entries)
{
	struct sim_server *s = server_of(io);
	int rv;

	rv = s->io.load(io, term, voted_for, snapshot, start_index, entries, n_entries);
	if (rv != 0)
		return rv;
	SIM_ASSERT(s->sim, *n_entries == s->io.persisted,
		   "server %u: the fixture keeps %zu entries, %llu were persisted", s->i,
		   *n_entries, (unsigned long long)s->io.persisted);
	if (*n_entries > 0)
		*start_index = s->io.log_start;
	unbatch(s, *entries, *n_entries);
	if (getenv("LOGOS_SIM_TRACE")) {
		fprintf(stderr,
			"LOAD server %u: snap %llu (conf %llu) start %llu n %zu terms:", s->i,
			*snapshot ? (unsigned long long)(*snapshot)->index : 0ULL,
			*snapshot ? (unsigned long long)(*snapshot)->configuration_index : 0ULL,
			(unsigned long long)*start_index, *n_entries);
		for (size_t k = 0; k < *n_entries; k++)
			fprintf(stderr, " %llu", (unsigned long long)(*entries)[k].term);
		fprintf(stderr, "\n");
	}
	return 0;
}

/* Sends and snapshot loads, in flight. */

static struct sim_other *other_get(struct sim_server *s)
{
	for (unsigned k = 0; k < SIM_MAX_OTHERS; k++)
		if (s->io.others[k].s == NULL) {
			s->io.others[k].s = s;
			s->io.n_others++;
			return &s->io.others[k];
		}
	SIM_ASSERT(s->sim, false, "server %u: too many requests in flight", s->i);
	return NULL;
}

static void other_put(struct sim_other *o)
{
	o->s->io.n_others--;
	o->s = NULL;
}

static void send_done(struct raft_io_send *req, int status)
{
	struct sim_other *o = req->data;
	raft_io_send_cb cb = o->send_cb;

	req->data = o->data;
	other_put(o);
	cb(req, status);
}

static int send_counted(struct raft_io *io, struct raft_io_send *req, const struct raft_message *m,
			raft_io_send_cb cb)
{
	struct sim_server *s = server_of(io);
	struct sim_other *o = other_get(s);
	int rv;

	o->data = req->data;
	o->send_cb = cb;
	req->data = o;
	rv = s->io.send(io, req, m, send_done);
	if (rv != 0) {
		req->data = o->data;
		other_put(o);
	}
	return rv;
}

/*
 * libraft 0.22.1 asks for the snapshot it knows of when it sends one to a
 * follower, and when the load returns a newer one, written meanwhile,
 * legacyLoadSnapshotCb (legacy.c) takes the newer index but keeps the older
 * term in the InstallSnapshot message (replication.c took it from the log):
 * the follower installs the snapshot under a wrong term, and its log then
 * conflicts with the leader's on a committed entry ("conflicting terms ...
 * -> shutdown"; raft_step fails in recvCb, where Debian's build frees the
 * entries twice; seed 10015 with 600 steps). With a disk that completes in
 * order (disk_idle counts loads), a load returns a newer snapshot only if a
 * snapshot write was pending when it was asked for: then it returns the
 * snapshot of that moment, which is what raft meant to send.
 */
static void get_done(struct raft_io_snapshot_get *req, struct raft_snapshot *snapshot, int status)
{
	struct sim_other *o = req->data;
	raft_io_snapshot_get_cb cb = o->get_cb;

	if (o->was != NULL) {
		if (status == 0 && snapshot->index != o->was->index) {
			snapshot_free(snapshot);
			snapshot = o->was;
			o->s->sim->stats.loads_replaced++;
		} else {
			snapshot_free(o->was);
		}
		o->was = NULL;
	}
	req->data = o->data;
	o->s->io.n_gets--;
	other_put(o);
	cb(req, snapshot, status);
}

static int get_counted(struct raft_io *io, struct raft_io_snapshot_get *req,
		       raft_io_snapshot_get_cb cb)
{
	struct sim_server *s = server_of(io);
	struct sim_other *o = other_get(s);
	int rv;

	o->data = req->data;
	o->get_cb = cb;
	o->was = NULL;
	for (unsigned k = 0; k < s->io.writes_n; k++)
		if (s->io.writes[(s->io.writes_head + k) % SIM_MAX_WRITES].kind == SIM_WRITE_PUT &&
		    s->io.snapshot != NULL && o->was == NULL)
			o->was = snapshot_copy(s, s->io.snapshot);
	req->data = o;
	rv = s->io.snapshot_get(io, req, get_done);
	if (rv != 0) {
		req->data = o->data;
		snapshot_free(o->was);
		o->was = NULL;
		other_put(o);
		return rv;
	}
	s->io.n_gets++;
	return 0;
}

void sim_io_wrap(struct sim *sim, unsigned i)
{
	struct sim_server *s = &sim->servers[i];
	struct raft_io *io = sim_raft(sim, i)->io;

	s->io.self = io;
	s->io.log_start = 1;
	s->io.start = io->start;
	io->start = start_filtered;
	s->io.append = io->append;
	io->append = append_ordered;
	s->io.snapshot_put = io->snapshot_put;
	io->snapshot_put = put_ordered;
	s->io.truncate = io->truncate;
	io->truncate = truncate_ordered;
	s->io.load = io->load;
	io->load = load_fixed;
	s->io.send = io->send;
	io->send = send_counted;
	s->io.snapshot_get = io->snapshot_get;
	io->snapshot_get = get_counted;
}

void sim_io_close(struct sim *sim, unsigned i)
{
	struct sim_server *s = &sim->servers[i];

	snapshot_free(s->io.snapshot);
	s->io.snapshot = NULL;
}

bool sim_io_idle(struct sim *sim, unsigned i)
{
	struct sim_server *s = &sim->servers[i];

	return s->io.writes_n == 0 && s->io.n_others == 0;
}
