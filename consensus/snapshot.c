/*
 * Snapshots taken off the loop.
 *
 * libraft 0.22.1 (legacy.c, legacyTakeSnapshot) asks the FSM for a snapshot
 * on the loop and calls fsm->snapshot_async, when there is one, right after,
 * on the loop too; only the file is written on raft_uv's thread pool. A store
 * of hundreds of MB takes seconds to serialise, and a loop held that long
 * sends no heartbeat: under load the leader lost its term to every snapshot
 * (docs/PERFORMANCE.md). So the work is split where raft cannot see it:
 *
 * - fsm_snapshot (on the loop) only fixes the state (sm->snapshot_begin: a
 *   read transaction) and hands raft a buffer that is still empty;
 * - raft passes that buffer straight to io->snapshot_put, which is ours: it
 *   serialises the state on the thread pool (sm->snapshot_write) while the
 *   loop goes on applying, and hands the filled buffer to raft_uv's own
 *   snapshot_put when done;
 * - fsm_snapshot_finalize (FSM version 2: the buffers stay ours) frees it.
 *
 * raft keeps `snapshot_taking` set throughout, so it starts no second one and
 * installs none meanwhile. It would hold an InstallSnapshot that arrives
 * meanwhile and start it when the put is done, but 0.22.1 loses it on the
 * way (takeSnapshotCb clears snapshot_pending before reading it, and calls
 * legacyPersistSnapshotStart(NULL): a crash; found by the simulation,
 * docs/TESTING.md). Serialising off the loop makes that window as long as
 * the serialisation, so we hold such a message ourselves (io->start's receive
 * callback is ours too) and hand it to raft once the put is done, when raft
 * is no longer taking a snapshot. A newer one replaces one held.
 *
 * Sending one. libraft 0.22.1's leader loads its snapshot from disk for every
 * InstallSnapshot it sends (legacyLoadSnapshot), and sends one again at
 * nearly every heartbeat while the follower installs the last: the follower
 * rejects the heartbeats anchored at the snapshot's index until it has
 * installed it, and a rejection of that index aborts the snapshot mode
 * (progressMaybeDecrement), so the next heartbeat sends it again. A snapshot
 * of 300 MB that takes a follower 10 s to receive, store and restore made the
 * leader hold ten copies (3.7 GB) and the follower receive them. So one
 * install is outstanding at a time: from its load until the follower answers
 * with an index at or past the snapshot's (or SNAPSHOT_SEND_TIMEOUT_MS), a
 * load is answered at once with an empty placeholder that io->send drops
 * (raft takes it for a lost message and tries again later).
 *
 * The state machine must offer the parts (common/sm.h snapshot_begin, _write,
 * _end; consensus_init checks).
 *
 * When: a snapshot costs its whole size (the store with all its history)
 * however few entries it covers, so a fixed count of entries between
 * snapshots would, once the store is large, keep a core serialising and the
 * disk writing hundreds of MB back to back. A snapshot is due when at least
 * cfg.snapshot_threshold entries were applied since the last one AND their
 * payloads add up to half the size of the last snapshot (taken or
 * restored): the work of snapshots stays within twice the bytes the log
 * carries, and the log raft keeps in memory between snapshots within half
 * the store. And in any case after 64 thresholds of entries (raft keeps each
 * in memory; the barriers of linearizable reads carry no payload). raft's own
 * threshold is the switch (consensus__snapshot_due); raft starts no snapshot
 * while one is taken.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <raft.h>
#include <uv.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/sm.h"
#include "consensus/internal.h"

struct consensus_snapshot {
	struct consensus *c;
	struct sm_snapshot *h;  /* the state machine's handle; NULL once ended */
	struct raft_buffer buf; /* what raft writes, filled off the loop */
	struct buf out;
	uv_work_t work;
	bool working; /* the work is queued or running */
	int status;   /* of the serialisation */
	char errmsg[256];
	uint64_t index; /* raft's applied index when taken */
	uint64_t t0;    /* uv_hrtime at the start */
	uint64_t t_serialised;
	/* raft's put, held until the buffer is filled. */
	struct raft_io_snapshot_put *req;
	const struct raft_snapshot *snapshot;
	unsigned trailing;
	raft_io_snapshot_put_cb cb;
	struct raft_io_snapshot_put put; /* ours, handed to raft_uv; put.data = this */
};

static struct consensus *from_io(struct raft_io *io)
{
	struct raft *r = io->data; /* raft_init sets it */

	return (struct consensus *)((char *)r - offsetof(struct consensus, raft));
}

/* The InstallSnapshot held (see the top): its memory is ours until handed over. */
static void held_drop(struct consensus *c)
{
	if (!c->holding)
		return;
	raft_configuration_close(&c->held.install_snapshot.conf);
	raft_free(c->held.install_snapshot.data.base);
	c->holding = false;
}

static void held_deliver(struct consensus *c)
{
	struct raft_message m;

	if (!c->holding)
		return;
	if (c->closing) {
		held_drop(c);
		return;
	}
	m = c->held;
	m.server_address = c->held_addr;
	c->holding = false;
	logger_info(c->cfg.lg,
		    "consensus: handing raft the snapshot install held meanwhile (index %llu)",
		    (unsigned long long)m.install_snapshot.last_index);
	c->raft_recv(&c->io, &m);
}

static void install_answered(struct consensus *c, const struct raft_message *m);

static void on_recv(struct raft_io *io, struct raft_message *m)
{
	struct consensus *c = from_io(io);

	if (c->send.server_id != 0)
		install_answered(c, m);

	if (m->type == RAFT_INSTALL_SNAPSHOT && c->snap != NULL && !c->closing) {
		held_drop(c);
		c->held = *m;
		snprintf(c->held_addr, sizeof c->held_addr, "%s",
			 m->server_address != NULL ? m->server_address : "");
		c->holding = true;
		logger_info(c->cfg.lg,
			    "consensus: snapshot install (index %llu) held until this node's own "
			    "snapshot is written",
			    (unsigned long long)m->install_snapshot.last_index);
		return;
	}
	c->raft_recv(io, m);
}

static int io_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
	struct consensus *c = from_io(io);

	c->raft_recv = recv;
	return c->uv_start(io, msecs, tick, on_recv);
}

/* The put is over (written, failed or cancelled): tell raft, which calls
 * fsm_snapshot_finalize (the job is freed), then hand over what was held. */
static void snap_done(struct consensus_snapshot *job, int status)
{
	struct consensus *c = job->c;
	raft_io_snapshot_put_cb cb = job->cb;
	struct raft_io_snapshot_put *req = job->req;

	cb(req, status);
	held_deliver(c);
}

static void on_put(struct raft_io_snapshot_put *put, int status)
{
	snap_done(put->data, status);
}

static void snap_work(uv_work_t *work)
{
	struct consensus_snapshot *job = work->data;
	struct sm *sm = job->c->cfg.sm;

	job->status = sm->snapshot_write(job->h, &job->out);
	if (job->status != 0)
		snprintf(job->errmsg, sizeof job->errmsg, "%s", sm->snapshot_errmsg(job->h));
}

static void snap_after_work(uv_work_t *work, int status)
{
	struct consensus_snapshot *job = work->data;
	struct consensus *c = job->c;
	bool closing = c->closing;
	int rv;

	job->working = false;
	c->cfg.sm->snapshot_end(c->cfg.sm, job->h);
	job->h = NULL;
	job->t_serialised = uv_hrtime();
	if (closing || status == UV_ECANCELED) {
		snap_done(job, RAFT_CANCELED);
	} else if (job->status != 0) {
		logger_error(c->cfg.lg, "consensus: snapshot at applied=%llu: %s",
			     (unsigned long long)job->index, job->errmsg);
		snap_done(job, RAFT_IOERR); /* raft drops it and takes another later */
	} else {
		/* raft frees nothing of it: fsm_snapshot_finalize does. */
		job->buf.len = job->out.len;
		job->buf.base = job->out.data;
		job->put.data = job;
		rv = c->uv_snapshot_put(&c->io, job->trailing, &job->put, job->snapshot, on_put);
		if (rv != 0) {
			logger_error(c->cfg.lg, "consensus: snapshot at applied=%llu: write: %s",
				     (unsigned long long)job->index, raft_strerror(rv));
			snap_done(job, rv);
		}
	}
	if (closing)
		consensus__close_step(c); /* the job was one of the steps */
}

static int io_snapshot_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
			   const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
	struct consensus *c = from_io(io);
	struct consensus_snapshot *job = c->snap;
	int rv;

	/* Installs (trailing 0) and anything not ours go straight through. */
	if (job == NULL || snapshot->bufs != &job->buf)
		return c->uv_snapshot_put(io, trailing, req, snapshot, cb);
	job->req = req;
	job->snapshot = snapshot;
	job->trailing = trailing;
	job->cb = cb;
	job->work.data = job;
	rv = uv_queue_work(c->loop, &job->work, snap_work, snap_after_work);
	if (rv != 0)
		return RAFT_NOMEM; /* raft calls fsm_snapshot_finalize */
	job->working = true;
	return 0;
}

int consensus__fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct consensus *c = fsm->data;
	struct sm *sm = c->cfg.sm;
	struct consensus_snapshot *job;
	int rv;

	if (c->snap != NULL)
		return RAFT_BUSY;
	job = calloc(1, sizeof *job);
	if (job == NULL)
		return RAFT_NOMEM;
	job->c = c;
	buf_init(&job->out);
	job->index = raft_last_applied(&c->raft);
	job->t0 = uv_hrtime();
	if (consensus__flush(c) != 0) { /* the snapshot must hold all that raft applied */
		free(job);
		return RAFT_IOERR;
	}
	rv = sm->snapshot_begin(sm, &job->h);
	if (rv != 0) {
		logger_error(c->cfg.lg, "consensus: snapshot at applied=%llu: %s",
			     (unsigned long long)job->index, sm->errmsg(sm));
		free(job);
		return RAFT_NOMEM;
	}
	c->snap = job;
	c->log_bytes = 0;
	consensus__snapshot_due(c, 0);
	*bufs = &job->buf;
	*n_bufs = 1;
	return 0;
}

int consensus__fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[],
				     unsigned *n_bufs)
{
	struct consensus *c = fsm->data;
	struct consensus_snapshot *job = c->snap;

	(void)n_bufs;
	if (job == NULL || *bufs != &job->buf)
		return 0;
	if (job->h != NULL) /* the put never started */
		c->cfg.sm->snapshot_end(c->cfg.sm, job->h);
	if (job->t_serialised != 0 && job->out.len > 0)
		logger_info(c->cfg.lg,
			    "consensus: snapshot at applied=%llu: %zu bytes, serialised in %.1f ms "
			    "off the loop, written in %.1f ms",
			    (unsigned long long)job->index, job->out.len,
			    (double)(job->t_serialised - job->t0) / 1e6,
			    (double)(uv_hrtime() - job->t_serialised) / 1e6);
	if (job->out.len > 0)
		c->snap_last_bytes = job->out.len;
	buf_release(&job->out);
	free(job);
	c->snap = NULL;
	*bufs = NULL;
	consensus__snapshot_due(c, 0);
	return 0;
}

/* Entries between snapshots however small they are, in thresholds: raft
 * keeps every entry since the last snapshot in memory, and barriers (one per
 * batch of linearizable reads) carry no payload the count above would see. */
#define ENTRIES_CAP 64u

void consensus__snapshot_due(struct consensus *c, size_t applied_bytes)
{
	unsigned cap = c->snap_threshold <= UINT32_MAX / 2 / ENTRIES_CAP
			       ? c->snap_threshold * ENTRIES_CAP
			       : UINT32_MAX / 2;
	unsigned want;

	c->log_bytes += applied_bytes;
	want = c->log_bytes >= c->snap_last_bytes / 2 ? c->snap_threshold : cap;
	if (want != c->raft_threshold) {
		raft_set_snapshot_threshold(&c->raft, want);
		c->raft_threshold = want;
	}
}

void consensus__snapshot_restored(struct consensus *c, size_t bytes)
{
	c->snap_last_bytes = bytes;
	c->log_bytes = 0;
	consensus__snapshot_due(c, 0);
}

/* Sending (see the top). */
#define SNAPSHOT_SEND_TIMEOUT_MS 30000

static bool send_outstanding(struct consensus *c)
{
	if (c->send.loading)
		return true;
	if (c->send.server_id == 0)
		return false;
	if (uv_now(c->loop) - c->send.since >= SNAPSHOT_SEND_TIMEOUT_MS) {
		c->send.server_id = 0;
		return false;
	}
	return true;
}

static void on_loaded(struct raft_io_snapshot_get *get, struct raft_snapshot *snapshot, int status)
{
	struct consensus *c = get->data;
	struct raft_io_snapshot_get *req = c->send.req;

	c->send.req = NULL;
	/* raft sends it from this callback (io_send notes the recipient): the
	 * load is outstanding until then. */
	req->cb(req, snapshot, status);
	c->send.loading = false;
}

/* An empty snapshot, which io_send drops: raft frees it as a sent message. */
static int placeholder(struct raft_io_snapshot_get *req)
{
	struct raft_snapshot *snap = raft_calloc(1, sizeof *snap);

	if (snap == NULL || (snap->bufs = raft_calloc(1, sizeof *snap->bufs)) == NULL ||
	    (snap->bufs[0].base = raft_malloc(8)) == NULL) {
		if (snap != NULL)
			raft_free(snap->bufs);
		raft_free(snap);
		return RAFT_NOMEM;
	}
	snap->n_bufs = 1;
	snap->bufs[0].len = 0;
	raft_configuration_init(&snap->configuration);
	req->cb(req, snap, 0);
	return 0;
}

static int io_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req,
			   raft_io_snapshot_get_cb cb)
{
	struct consensus *c = from_io(io);
	int rv;

	req->cb = cb;
	if (send_outstanding(c))
		return placeholder(req);
	c->send.get.data = c;
	rv = c->uv_snapshot_get(io, &c->send.get, on_loaded);
	if (rv == 0) {
		c->send.loading = true;
		c->send.req = req;
	}
	return rv;
}

static int io_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *m,
		   raft_io_send_cb cb)
{
	struct consensus *c = from_io(io);

	if (m->type == RAFT_INSTALL_SNAPSHOT) {
		if (m->install_snapshot.data.len == 0) { /* a placeholder: dropped */
			cb(req, 0);
			return 0;
		}
		int rv = c->uv_send(io, req, m, cb);

		if (rv == 0) {
			c->send.server_id = m->server_id;
			c->send.index = m->install_snapshot.last_index;
			c->send.since = uv_now(c->loop);
			c->installs_sent++;
			logger_info(
				c->cfg.lg,
				"consensus: sending snapshot index %llu (%zu bytes) to node %llu",
				(unsigned long long)m->install_snapshot.last_index,
				m->install_snapshot.data.len, (unsigned long long)m->server_id);
		}
		return rv;
	}
	return c->uv_send(io, req, m, cb);
}

/* The recipient of the outstanding install answers at or past its index. */
static void install_answered(struct consensus *c, const struct raft_message *m)
{
	if (m->type == RAFT_APPEND_ENTRIES_RESULT && m->server_id == c->send.server_id &&
	    m->append_entries_result.rejected == 0 &&
	    m->append_entries_result.last_log_index >= c->send.index)
		c->send.server_id = 0;
}

bool consensus__snapshot_working(const struct consensus *c)
{
	return c->snap != NULL && c->snap->working;
}

void consensus__snapshot_close(struct consensus *c)
{
	/* Not started yet: never started (snap_after_work sees UV_ECANCELED). */
	if (consensus__snapshot_working(c))
		uv_cancel((uv_req_t *)&c->snap->work);
	held_drop(c);
}

void consensus__snapshot_init(struct consensus *c, unsigned threshold)
{
	c->snap_threshold = threshold;
	c->raft_threshold = threshold;
	raft_set_snapshot_threshold(&c->raft, threshold);
	c->uv_snapshot_put = c->io.snapshot_put;
	c->io.snapshot_put = io_snapshot_put;
	c->uv_start = c->io.start;
	c->io.start = io_start;
	c->uv_snapshot_get = c->io.snapshot_get;
	c->io.snapshot_get = io_snapshot_get;
	c->uv_send = c->io.send;
	c->io.send = io_send;
}
