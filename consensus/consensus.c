/*
 * The libraft node of consensus/consensus.h: set-up, bootstrap and start,
 * proposals, batched barriers, one-at-a-time membership changes, leadership
 * transfer and the close chain (raft_close closes raft_uv, which closes our
 * transport; then raft_uv's memory is released and the user's callback
 * fires).
 *
 * raft's request callbacks are queued by libraft and fired after each step,
 * and on raft_close with RAFT_LEADERSHIPLOST; a request that fails while we
 * close is reported as ERR_CANCELED.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"
#include "consensus/consensus.h"
#include "consensus/internal.h"

struct consensus_waiter {
	struct consensus_waiter *next;
	consensus_done_cb cb;
	void *arg;
};

enum {
	CHANGE_ADD,
	CHANGE_ASSIGN,
	CHANGE_REMOVE
};

struct consensus_change {
	struct raft_change req;    /* req.data = the consensus */
	struct raft_barrier fence; /* fence.data = the consensus; see change_submit */
	struct consensus_change *next;
	int kind;
	uint64_t id;
	int role; /* RAFT_* */
	char addr[64];
	consensus_done_cb cb;
	void *arg;
};

struct propose {
	struct raft_apply req;
	struct consensus *c;
	consensus_propose_cb cb;
	void *arg;
};

int consensus__raft_err(const struct consensus *c, int rv)
{
	if (c->closing)
		return ERR_CANCELED;
	switch (rv) {
	case 0:
		return 0;
	case RAFT_NOTLEADER:
	case RAFT_LEADERSHIPLOST:
		return ERR_NOTLEADER;
	case RAFT_SHUTDOWN:
	case RAFT_CANCELED:
		return ERR_CANCELED;
	case RAFT_NOMEM:
		return ERR_NOMEM;
	case RAFT_BADID:
	case RAFT_BADROLE:
	case RAFT_MALFORMED:
	case RAFT_INVALID:
	case RAFT_NAMETOOLONG:
		return ERR_INVALID;
	case RAFT_DUPLICATEID:
	case RAFT_DUPLICATEADDRESS:
	case RAFT_CANTBOOTSTRAP:
		return ERR_EXISTS;
	case RAFT_CANTCHANGE:
	case RAFT_BUSY:
		return ERR_BUSY;
	case RAFT_CORRUPT:
		return ERR_CORRUPT;
	case RAFT_TOOBIG:
		return ERR_TOOBIG;
	case RAFT_NOCONNECTION:
		return ERR_UNAVAILABLE;
	case RAFT_IOERR:
		return ERR_IO;
	case RAFT_NOTFOUND:
		return ERR_NOTFOUND;
	case RAFT_UNAUTHORIZED:
		return ERR_DENIED;
	case RAFT_NOSPACE:
		return ERR_FULL;
	default:
		return ERR_INTERNAL;
	}
}

/*
 * The status to report for a request raft completed: what the request waited
 * on must be committed in the state machine first (consensus/group.c); if that
 * fails, or the state machine failed before, success becomes ERR_UNAVAILABLE.
 */
static int settle(struct consensus *c, int status)
{
	if ((consensus__flush(c) != 0 || c->fatal) && status == 0)
		return ERR_UNAVAILABLE;
	return status;
}

/* Records raft's message in c->errmsg and returns the translated code. */
static int raft_fail(struct consensus *c, int rv, const char *what)
{
	const char *msg = raft_errmsg(&c->raft);

	return err_set(c->errmsg, sizeof c->errmsg, consensus__raft_err(c, rv), "%s: %s", what,
		       msg != NULL && msg[0] != '\0' ? msg : raft_strerror(rv));
}

static int role_to_raft(int role)
{
	switch (role) {
	case CONSENSUS_VOTER:
		return RAFT_VOTER;
	case CONSENSUS_STANDBY:
		return RAFT_STANDBY;
	case CONSENSUS_SPARE:
		return RAFT_SPARE;
	default:
		return -1;
	}
}

static int role_from_raft(int role)
{
	switch (role) {
	case RAFT_VOTER:
		return CONSENSUS_VOTER;
	case RAFT_STANDBY:
		return CONSENSUS_STANDBY;
	case RAFT_SPARE:
		return CONSENSUS_SPARE;
	default:
		return -1;
	}
}

int consensus_init(struct consensus *c, uv_loop_t *loop, const struct consensus_config *cfg)
{
	unsigned election_ms, heartbeat_ms, retry_ms;
	struct stat st;
	int rv;

	memset(c, 0, sizeof *c);
	if (cfg->id == 0 || cfg->raft_addr == NULL || cfg->dir == NULL || cfg->secret == NULL ||
	    cfg->sm == NULL)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_INVALID,
			       "consensus config: id, raft_addr, dir, secret and sm are required");
	if (cfg->sm->snapshot_begin == NULL || cfg->sm->snapshot_write == NULL ||
	    cfg->sm->snapshot_errmsg == NULL || cfg->sm->snapshot_end == NULL)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_INVALID,
			       "consensus config: the state machine must take snapshots in parts");
	if (strlen(cfg->dir) >= sizeof c->dir || strlen(cfg->raft_addr) >= sizeof c->raft_addr)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_INVALID,
			       "consensus config: dir or raft address too long");
	c->loop = loop;
	c->cfg = *cfg;
	snprintf(c->dir, sizeof c->dir, "%s", cfg->dir);
	snprintf(c->raft_addr, sizeof c->raft_addr, "%s", cfg->raft_addr);
	c->cfg.dir = c->dir;
	c->cfg.raft_addr = c->raft_addr;
	c->cfg.secret = NULL; /* copied into the transport; do not keep a borrowed pointer */
	c->barrier_waiting_tail = &c->barrier_waiting;

	if (stat(c->dir, &st) != 0) {
		if (errno != ENOENT || mkdir(c->dir, 0700) != 0)
			return err_set(c->errmsg, sizeof c->errmsg, ERR_IO,
				       "create raft directory '%s': %s", c->dir, strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		return err_set(c->errmsg, sizeof c->errmsg, ERR_INVALID,
			       "raft directory '%s': not a directory", c->dir);
	}

	rv = transport_init(&c->transport, loop, cfg->secret, cfg->lg);
	if (rv != 0)
		return err_set(c->errmsg, sizeof c->errmsg, rv, "transport: libsodium init failed");
	rv = raft_uv_init(&c->io, loop, c->dir, &c->transport.raft);
	if (rv != 0) {
		rv = err_set(c->errmsg, sizeof c->errmsg, rv == RAFT_NOMEM ? ERR_NOMEM : ERR_IO,
			     "raft_uv_init '%s': %s", c->dir, c->io.errmsg);
		goto err;
	}
	/* reliability.md R13: a damaged log must stop the node, not be moved
	 * aside silently. */
	raft_uv_set_auto_recovery(&c->io, false);

	consensus__fsm_init(c);
	rv = raft_init(&c->raft, &c->io, &c->fsm, cfg->id, c->raft_addr);
	if (rv != 0) {
		rv = err_set(c->errmsg, sizeof c->errmsg, rv == RAFT_NOMEM ? ERR_NOMEM : ERR_IO,
			     "raft_init: %s", raft_errmsg(&c->raft));
		goto err_after_uv_init;
	}
	election_ms = cfg->election_timeout_ms != 0 ? cfg->election_timeout_ms : 1000;
	heartbeat_ms = cfg->heartbeat_ms != 0 ? cfg->heartbeat_ms : 100;
	raft_set_election_timeout(&c->raft, election_ms);
	raft_set_heartbeat_timeout(&c->raft, heartbeat_ms);
	c->heartbeat_ms = heartbeat_ms;
	consensus__snapshot_init(c, cfg->snapshot_threshold != 0 ? cfg->snapshot_threshold : 8192);
	raft_set_snapshot_trailing(&c->raft,
				   cfg->snapshot_trailing != 0 ? cfg->snapshot_trailing : 4096);
	/* A node coming back must not disrupt a healthy leader with higher
	 * terms (Raft thesis §9.6). */
	raft_set_pre_vote(&c->raft, true);
	/* libraft's default of 32 unacknowledged entries per follower makes a
	 * follower catching up receive, persist and apply at most 32 entries
	 * per round trip; with group commit (consensus/group.c) a round trip
	 * can carry one full group. */
	raft_set_max_inflight_entries(&c->raft, CONSENSUS_GROUP_ENTRIES);
	/* raft_uv's default of 1 s between connection attempts is longer than
	 * an election; follow the heartbeat instead. */
	retry_ms = heartbeat_ms * 2;
	if (retry_ms < 50)
		retry_ms = 50;
	if (retry_ms > 1000)
		retry_ms = 1000;
	raft_uv_set_connect_retry_delay(&c->io, retry_ms);
	consensus__group_init(c);
	c->inited = true;
	return 0;

err_after_uv_init:
	raft_uv_close(&c->io);
err:
	return rv;
}

bool consensus_has_state(const struct consensus *c)
{
	static const char *const names[] = {"metadata1", "metadata2"};
	char path[sizeof c->dir + 16];
	struct stat st;
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", c->dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
			return true;
	}
	return false;
}

int consensus_bootstrap(struct consensus *c)
{
	struct raft_configuration conf;
	int rv;

	raft_configuration_init(&conf);
	rv = raft_configuration_add(&conf, c->cfg.id, c->raft_addr, RAFT_VOTER);
	if (rv != 0) {
		rv = err_set(c->errmsg, sizeof c->errmsg, consensus__raft_err(c, rv),
			     "bootstrap node=%llu: %s", (unsigned long long)c->cfg.id,
			     raft_strerror(rv));
		goto out;
	}
	rv = raft_bootstrap(&c->raft, &conf);
	if (rv == RAFT_CANTBOOTSTRAP)
		rv = err_set(c->errmsg, sizeof c->errmsg, ERR_EXISTS,
			     "bootstrap: '%s' already holds raft state", c->dir);
	else if (rv != 0)
		rv = raft_fail(c, rv, "bootstrap");
out:
	raft_configuration_close(&conf);
	return rv;
}

int consensus_start(struct consensus *c)
{
	int rv;

	rv = raft_start(&c->raft);
	if (rv != 0)
		return raft_fail(c, rv, "raft_start");
	c->started = true;
	logger_info(c->cfg.lg, "consensus: started node=%llu addr=%s term=%llu applied=%llu",
		    (unsigned long long)c->cfg.id, c->raft_addr,
		    (unsigned long long)raft_current_term(&c->raft),
		    (unsigned long long)raft_last_applied(&c->raft));
	return 0;
}

/* Proposals. */

static void propose_cb(struct raft_apply *req, int status, void *result)
{
	struct propose *p = req->data;
	struct consensus *c = p->c;
	uint64_t index = req->index;

	(void)result; /* Dropped on followers; never relied on. */
	/* The entry's result must be committed before it is reported. */
	status = settle(c, consensus__raft_err(c, status));
	p->cb(p->arg, status, status == 0 ? index : 0);
	free(p);
}

/*
 * libraft 0.22 moves a follower from pipeline to probe mode ("unreachable ->
 * abort pipeline") when a heartbeat tick finds no message from it since the
 * tick before. With writes a little apart that happens often: an entry sent
 * between two ticks makes the next tick skip its heartbeat (one was sent less
 * than an interval ago), and the tick after that finds nothing received. In
 * probe mode the follower gets at most one message per heartbeat interval,
 * and the answer to a mere heartbeat does not restore pipeline mode: the next
 * entry waited up to heartbeat_ms before it even left (measured: a launch
 * placed on a follower took three heartbeat intervals, 300 ms).
 *
 * So the first entry after a pause of half a heartbeat interval or more is
 * handed to raft with the heartbeat timeout at 1 ms: raft sends it to every
 * follower at once whatever its mode, and the answer puts a reachable
 * follower back into pipeline mode. Only then: a follower that is really
 * unreachable stays in probe mode, where each message carries every entry it
 * lacks, and sending it one per entry under load would cost the leader its
 * loop (seen with a paused node). Nothing else runs in between (raft_apply
 * and raft_barrier send synchronously, on this loop).
 */
static bool send_now_begin(struct consensus *c)
{
	uint64_t now = uv_now(c->loop);
	bool after_pause = now - c->last_entry_ms >= c->heartbeat_ms / 2;

	c->last_entry_ms = now;
	if (after_pause)
		raft_set_heartbeat_timeout(&c->raft, 1);
	return after_pause;
}

static void send_now_end(struct consensus *c, bool began)
{
	if (began)
		raft_set_heartbeat_timeout(&c->raft, c->heartbeat_ms);
}

int consensus_propose(struct consensus *c, const void *entry, size_t len, consensus_propose_cb cb,
		      void *arg)
{
	struct raft_buffer buf;
	struct propose *p;
	bool now;
	int rv;

	if (c->closing)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_CANCELED, "propose: closing");
	/* reliability.md R3: raft's segments require 8-byte multiples. */
	if (len == 0 || len % 8 != 0)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_INVALID,
			       "propose: entry of %zu bytes is not a non-zero multiple of 8", len);
	if (c->fatal)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_UNAVAILABLE,
			       "propose: the state machine failed");
	if (raft_state(&c->raft) != RAFT_LEADER)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_NOTLEADER,
			       "propose: node=%llu is not the leader",
			       (unsigned long long)c->cfg.id);
	p = malloc(sizeof *p);
	if (p == NULL)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_NOMEM, "propose: out of memory");
	buf.len = len;
	buf.base = raft_malloc(len);
	if (buf.base == NULL) {
		free(p);
		return err_set(c->errmsg, sizeof c->errmsg, ERR_NOMEM, "propose: out of memory");
	}
	memcpy(buf.base, entry, len);
	p->c = c;
	p->cb = cb;
	p->arg = arg;
	p->req.data = p;
	now = send_now_begin(c);
	rv = raft_apply(&c->raft, &p->req, &buf, 1, propose_cb);
	send_now_end(c, now);
	if (rv != 0) {
		/* libraft 0.22.1 has already appended the entry, and releases
		 * it itself, when the disk write fails (RAFT_IOERR, seen in
		 * tests/sim): freeing it here too would free it twice. */
		if (rv != RAFT_IOERR)
			raft_free(buf.base);
		free(p);
		return raft_fail(c, rv, "propose");
	}
	return 0;
}

/* Barriers (DESIGN §6). Requests that arrive while a raft barrier is in flight
 * wait for the next one: the barrier in flight may have been appended before
 * what they must observe was committed. */

static void waiters_fire(struct consensus_waiter *w, int status)
{
	struct consensus_waiter *next;

	for (; w != NULL; w = next) {
		next = w->next;
		w->cb(w->arg, status);
		free(w);
	}
}

static void barrier_cb(struct raft_barrier *req, int status);

/* Starts a raft barrier for the waiting requests. */
static int barrier_start(struct consensus *c)
{
	struct raft_barrier *req = &c->barrier_req[c->barrier_next];
	bool now;
	int rv;

	req->data = c;
	now = send_now_begin(c);
	rv = raft_barrier(&c->raft, req, barrier_cb);
	send_now_end(c, now);
	if (rv != 0)
		return rv;
	c->barrier_next ^= 1;
	c->barrier_inflight = c->barrier_waiting;
	c->barrier_waiting = NULL;
	c->barrier_waiting_tail = &c->barrier_waiting;
	return 0;
}

static void barrier_cb(struct raft_barrier *req, int status)
{
	struct consensus *c = req->data;
	struct consensus_waiter *done = c->barrier_inflight;
	struct consensus_waiter *failed = NULL;
	int rv;

	c->barrier_inflight = NULL;
	/* A read after the barrier must see all it waited for, committed. */
	status = settle(c, consensus__raft_err(c, status));
	if (c->barrier_waiting != NULL) {
		rv = c->closing ? RAFT_SHUTDOWN : barrier_start(c);
		if (rv != 0) {
			failed = c->barrier_waiting;
			c->barrier_waiting = NULL;
			c->barrier_waiting_tail = &c->barrier_waiting;
			rv = consensus__raft_err(c, rv);
		}
	}
	waiters_fire(done, status);
	if (failed != NULL)
		waiters_fire(failed, rv);
}

int consensus_barrier(struct consensus *c, consensus_done_cb cb, void *arg)
{
	struct consensus_waiter *w;
	int rv;

	if (c->closing)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_CANCELED, "barrier: closing");
	if (raft_state(&c->raft) != RAFT_LEADER)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_NOTLEADER,
			       "barrier: node=%llu is not the leader",
			       (unsigned long long)c->cfg.id);
	w = malloc(sizeof *w);
	if (w == NULL)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_NOMEM, "barrier: out of memory");
	w->next = NULL;
	w->cb = cb;
	w->arg = arg;
	*c->barrier_waiting_tail = w;
	c->barrier_waiting_tail = &w->next;
	if (c->barrier_inflight != NULL)
		return 0;
	/* Nothing in flight, so `w` is the only waiter. */
	rv = barrier_start(c);
	if (rv != 0) {
		free(w);
		c->barrier_waiting = NULL;
		c->barrier_waiting_tail = &c->barrier_waiting;
		return raft_fail(c, rv, "barrier");
	}
	return 0;
}

/* Membership changes, one at a time (reliability.md R7). */

static void change_cb(struct raft_change *req, int status);
static void change_fence_cb(struct raft_barrier *req, int status);

/* The change itself, once the fence is applied. */
static int change_raft(struct consensus *c, struct consensus_change *ch)
{
	ch->req.data = c;
	switch (ch->kind) {
	case CHANGE_ADD:
		return raft_add(&c->raft, &ch->req, ch->id, ch->addr, change_cb);
	case CHANGE_ASSIGN:
		return raft_assign(&c->raft, &ch->req, ch->id, ch->role, change_cb);
	default:
		return raft_remove(&c->raft, &ch->req, ch->id, change_cb);
	}
}

/*
 * A change starts with a barrier of the leader's term and is appended only
 * once that barrier is applied. A leader may change the membership only after
 * it has committed an entry of its own term (the rule the single-server
 * change needs, from Ongaro's 2015 correction); libraft 0.22 does not enforce
 * it, and appends no such entry when its log looks committed, so a new leader
 * that never saw its predecessor's uncommitted change could append one of its
 * own, and two configurations with disjoint majorities could both commit
 * (tests/sim found it: seed 35333, TESTING.md). The change is appended from
 * the barrier's callback, in the same term, or fails with raft's error.
 */
static int change_submit(struct consensus *c, struct consensus_change *ch)
{
	ch->fence.data = c;
	return raft_barrier(&c->raft, &ch->fence, change_fence_cb);
}

/* Submits queued changes until one is in flight; those raft refuses fail. */
static void change_next(struct consensus *c)
{
	struct consensus_change *ch;
	int rv;

	while (!c->changing && (ch = c->changes) != NULL) {
		rv = c->closing ? RAFT_SHUTDOWN : change_submit(c, ch);
		if (rv == 0) {
			c->changing = true;
			return;
		}
		c->changes = ch->next;
		ch->cb(ch->arg, consensus__raft_err(c, rv));
		free(ch);
	}
}

/* The change at the head of the queue is over, with `status` (raft's). */
static void change_finish(struct consensus *c, int status)
{
	struct consensus_change *ch = c->changes;

	c->changing = false;
	c->changes = ch->next;
	status = settle(c, consensus__raft_err(c, status));
	logger_info(c->cfg.lg, "consensus: membership change node=%llu kind=%d status=%s",
		    (unsigned long long)ch->id, ch->kind, err_name(status));
	ch->cb(ch->arg, status);
	free(ch);
	if (!c->closing)
		change_next(c);
}

static void change_fence_cb(struct raft_barrier *req, int status)
{
	struct consensus *c = req->data;

	if (status == 0 && c->closing)
		status = RAFT_SHUTDOWN;
	if (status == 0)
		status = change_raft(c, c->changes);
	if (status != 0)
		change_finish(c, status);
}

static void change_cb(struct raft_change *req, int status)
{
	change_finish(req->data, status);
}

static int change_enqueue(struct consensus *c, struct consensus_change *ch)
{
	struct consensus_change **tail;
	int rv;

	ch->next = NULL;
	if (c->changes == NULL) {
		/* Submit at once, so raft's refusal reaches the caller. */
		rv = change_submit(c, ch);
		if (rv != 0) {
			free(ch);
			return raft_fail(c, rv, "membership change");
		}
		c->changes = ch;
		c->changing = true;
		return 0;
	}
	for (tail = &c->changes; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = ch;
	return 0;
}

static struct consensus_change *change_new(struct consensus *c, int kind, uint64_t id,
					   consensus_done_cb cb, void *arg, int *rv)
{
	struct consensus_change *ch;

	*rv = 0;
	if (c->closing) {
		*rv = err_set(c->errmsg, sizeof c->errmsg, ERR_CANCELED, "membership: closing");
		return NULL;
	}
	if (raft_state(&c->raft) != RAFT_LEADER) {
		*rv = err_set(c->errmsg, sizeof c->errmsg, ERR_NOTLEADER,
			      "membership: node=%llu is not the leader",
			      (unsigned long long)c->cfg.id);
		return NULL;
	}
	if (id == 0) {
		*rv = err_set(c->errmsg, sizeof c->errmsg, ERR_INVALID, "membership: node id 0");
		return NULL;
	}
	ch = calloc(1, sizeof *ch);
	if (ch == NULL) {
		*rv = err_set(c->errmsg, sizeof c->errmsg, ERR_NOMEM, "membership: out of memory");
		return NULL;
	}
	ch->kind = kind;
	ch->id = id;
	ch->cb = cb;
	ch->arg = arg;
	return ch;
}

int consensus_add(struct consensus *c, uint64_t id, const char *raft_addr, consensus_done_cb cb,
		  void *arg)
{
	struct consensus_change *ch;
	int rv;

	if (raft_addr == NULL || strlen(raft_addr) >= sizeof ch->addr)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_INVALID,
			       "add node=%llu: bad raft address", (unsigned long long)id);
	ch = change_new(c, CHANGE_ADD, id, cb, arg, &rv);
	if (ch == NULL)
		return rv;
	snprintf(ch->addr, sizeof ch->addr, "%s", raft_addr);
	return change_enqueue(c, ch);
}

int consensus_assign(struct consensus *c, uint64_t id, int role, consensus_done_cb cb, void *arg)
{
	struct consensus_change *ch;
	int rv;

	if (role_to_raft(role) < 0)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_INVALID,
			       "assign node=%llu: unknown role %d", (unsigned long long)id, role);
	ch = change_new(c, CHANGE_ASSIGN, id, cb, arg, &rv);
	if (ch == NULL)
		return rv;
	ch->role = role_to_raft(role);
	return change_enqueue(c, ch);
}

int consensus_remove(struct consensus *c, uint64_t id, consensus_done_cb cb, void *arg)
{
	struct consensus_change *ch;
	int rv;

	ch = change_new(c, CHANGE_REMOVE, id, cb, arg, &rv);
	if (ch == NULL)
		return rv;
	return change_enqueue(c, ch);
}

/* Leadership transfer. */

static void transfer_cb(struct raft_transfer *req)
{
	struct consensus *c = req->data;
	consensus_done_cb cb = c->transfer_cb;
	int status;

	c->transfer_cb = NULL;
	if (c->closing)
		status = ERR_CANCELED;
	else
		status = raft_state(&c->raft) == RAFT_LEADER ? ERR_TIMEOUT : 0;
	cb(c->transfer_arg, status);
}

int consensus_transfer(struct consensus *c, consensus_done_cb cb, void *arg)
{
	int rv;

	if (c->closing)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_CANCELED, "transfer: closing");
	if (c->transfer_cb != NULL)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_BUSY,
			       "transfer: already in progress");
	if (raft_state(&c->raft) != RAFT_LEADER)
		return err_set(c->errmsg, sizeof c->errmsg, ERR_NOTLEADER,
			       "transfer: node=%llu is not the leader",
			       (unsigned long long)c->cfg.id);
	c->transfer.data = c;
	rv = raft_transfer(&c->raft, &c->transfer, 0, transfer_cb);
	if (rv != 0)
		return raft_fail(c, rv, "transfer");
	c->transfer_cb = cb;
	c->transfer_arg = arg;
	return 0;
}

/* Queries. */

bool consensus_is_leader(struct consensus *c)
{
	return c->started && !c->closing && raft_state(&c->raft) == RAFT_LEADER;
}

uint64_t consensus_leader(struct consensus *c, const char **raft_addr)
{
	raft_id id = 0;
	const char *addr = NULL;

	if (c->started && !c->closing)
		raft_leader(&c->raft, &id, &addr);
	if (raft_addr != NULL)
		*raft_addr = id != 0 ? addr : NULL;
	return id;
}

uint64_t consensus_term(struct consensus *c)
{
	return raft_current_term(&c->raft);
}

uint64_t consensus_commit_index(struct consensus *c)
{
	return raft_commit_index(&c->raft);
}

uint64_t consensus_last_applied(struct consensus *c)
{
	return raft_last_applied(&c->raft);
}

int consensus_role(struct consensus *c, uint64_t id)
{
	unsigned i;

	for (i = 0; i < c->raft.configuration.n; i++)
		if (c->raft.configuration.servers[i].id == id)
			return role_from_raft(c->raft.configuration.servers[i].role);
	return -1;
}

void consensus_servers(struct consensus *c,
		       void (*cb)(void *arg, uint64_t id, const char *addr, int role), void *arg)
{
	const struct raft_server *s;
	unsigned i;

	for (i = 0; i < c->raft.configuration.n; i++) {
		s = &c->raft.configuration.servers[i];
		cb(arg, s->id, s->address, role_from_raft(s->role));
	}
}

/* Close: pending requests fail with ERR_CANCELED, then raft closes raft_uv
 * (and through it the transport); raft_uv's memory goes last. */

/* One step of the close chain done: raft (and raft_uv), or the group's check
 * handle; the user's callback fires after both. */
void consensus__close_step(struct consensus *c)
{
	void (*cb)(struct consensus *) = c->close_cb;

	if (--c->close_pending > 0)
		return;
	c->inited = false;
	logger_debug(c->cfg.lg, "consensus: closed node=%llu", (unsigned long long)c->cfg.id);
	if (cb != NULL)
		cb(c);
}

static void on_raft_closed(struct raft *r)
{
	struct consensus *c = (struct consensus *)((char *)r - offsetof(struct consensus, raft));

	raft_uv_close(&c->io);
	consensus__close_step(c);
}

static void on_group_check_closed(uv_handle_t *h)
{
	consensus__close_step(h->data);
}

void consensus_close(struct consensus *c, void (*cb)(struct consensus *c))
{
	struct consensus_waiter *waiting;

	if (!c->inited || c->closing) {
		/* Never set up (or already closing): nothing to wait for. */
		if (!c->inited && cb != NULL)
			cb(c);
		return;
	}
	c->close_cb = cb;
	/* raft, the check handle, and a snapshot being serialised: raft does
	 * not wait for it (its put is ours until then). */
	c->close_pending = consensus__snapshot_working(c) ? 3 : 2;
	consensus__snapshot_close(c);
	/* Entries applied in this loop turn are committed before raft stops. */
	consensus__group_close(c, on_group_check_closed);
	c->closing = true;
	/* Requests not yet handed to raft; raft fails its own in raft_close. */
	waiting = c->barrier_waiting;
	c->barrier_waiting = NULL;
	c->barrier_waiting_tail = &c->barrier_waiting;
	waiters_fire(waiting, ERR_CANCELED);
	if (c->changes != NULL) {
		struct consensus_change *rest = c->changing ? c->changes->next : c->changes;
		if (c->changing)
			c->changes->next = NULL;
		else
			c->changes = NULL;
		while (rest != NULL) {
			struct consensus_change *next = rest->next;
			rest->cb(rest->arg, ERR_CANCELED);
			free(rest);
			rest = next;
		}
	}
	raft_close(&c->raft, on_raft_closed);
}
