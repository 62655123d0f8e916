/*
 * One simulated run (tests/sim/sim.h): a seeded schedule of client commands
 * mixed with faults — the leader isolated, minority/majority splits, one-way
 * drops (raft_fixture_saturate), servers killed and revived, servers crashed
 * and restarted from their persisted state, network and disk latency changes
 * (a disk stays in order: sim_set_disk_latency), election timeout changes,
 * membership changes — with snapshots taken every 32 entries and installed
 * on laggards and joiners. With LOGOS_SIM_IO_FAULTS=1 a slow disk becomes a
 * failing one (raft_fixture_io_fault), which libraft 0.22.1 does not survive
 * (sim.h). Then every fault is healed, and a leader must exist and a new
 * write commit and be applied by every voter and standby within a bounded
 * simulated time (I6) before the final checks.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <raft.h>
#include <raft/fixture.h>

#include "tests/sim/sim.h"

static unsigned leader_of(struct sim *sim)
{
	unsigned candidates[SIM_MAX_SERVERS], n = 0;

	for (unsigned i = 0; i < sim->n; i++)
		if (raft_fixture_alive(&sim->f, i) && raft_state(sim_raft(sim, i)) == RAFT_LEADER)
			candidates[n++] = i;
	return n == 0 ? sim->n : candidates[sim_below(sim, n)];
}

/* Cuts every link between the servers in `set` (a bit mask) and the others,
 * both ways. */
static void split(struct sim *sim, unsigned set)
{
	for (unsigned i = 0; i < sim->n; i++)
		for (unsigned j = 0; j < sim->n; j++)
			if (i != j && ((set >> i) & 1) != ((set >> j) & 1) &&
			    !sim->servers[i].retired && !sim->servers[j].retired)
				raft_fixture_saturate(&sim->f, i, j);
}

static void heal_network(struct sim *sim)
{
	for (unsigned i = 0; i < sim->n; i++)
		for (unsigned j = 0; j < sim->n; j++)
			if (i != j && !sim->servers[i].retired && !sim->servers[j].retired)
				raft_fixture_desaturate(&sim->f, i, j);
}

/*
 * Membership changes (Raft §4, libraft's raft_add/raft_assign/raft_remove),
 * one at a time as libraft requires, proposed to a server that believes it
 * leads while faults go on:
 *   - a server joins: raft_fixture_grow and raft_start with an empty log,
 *     then raft_add makes it a spare;
 *   - raft_assign makes a spare or standby a voter (libraft first catches it
 *     up) or a standby, or demotes a voter, keeping at least three voters;
 *   - raft_remove takes a non-voter, or a voter while more than three remain,
 *     out of the configuration. Once its removal commits the server is shut
 *     down for good (retired): nothing sends to it and it is never revived,
 *     as an operator would do; its store stays for the final checks.
 * A change that fails (leadership lost, another change in progress) is
 * allowed; only committed changes matter.
 */
static void change_cb(struct raft_change *req, int status)
{
	struct sim_change *c = req->data;
	struct sim *sim = c->sim;

	c->done = true;
	c->status = status;
	sim_trace(sim, (uint64_t)c->kind << 32 | (uint64_t)(unsigned)status);
	if (sim->change == c)
		sim->change = NULL;
	/* raft_fixture_close fires completed callbacks while it frees the
	 * servers one by one. */
	if (status != 0 || sim->closing)
		return;
	sim->stats.changes_committed++;
	/* A committed removal retires the server (sim_retire_removed). */
	sim_retire_removed(sim);
}

static struct sim_change *change_new(struct sim *sim, int kind, unsigned server)
{
	struct sim_change *c = calloc(1, sizeof *c);

	ck_assert_ptr_nonnull(c);
	if (sim->n_changes == sim->cap_changes) {
		sim->cap_changes = sim->cap_changes ? 2 * sim->cap_changes : 16;
		sim->changes = realloc(sim->changes, sim->cap_changes * sizeof *sim->changes);
		ck_assert_ptr_nonnull(sim->changes);
	}
	sim->changes[sim->n_changes++] = c;
	c->sim = sim;
	c->kind = kind;
	c->server = server;
	c->req.data = c;
	return c;
}

/* Server i's role in r's configuration, -1 if it is not in it. */
static int role_in(struct raft *r, unsigned i)
{
	for (unsigned k = 0; k < r->configuration.n; k++)
		if (r->configuration.servers[k].id == (raft_id)i + 1)
			return r->configuration.servers[k].role;
	return -1;
}

static unsigned voters_in(struct raft *r)
{
	unsigned n = 0;

	for (unsigned k = 0; k < r->configuration.n; k++)
		n += r->configuration.servers[k].role == RAFT_VOTER;
	return n;
}

static void change(struct sim *sim)
{
	unsigned l = sim->n, cand[SIM_MAX_SERVERS], n = 0, i;
	struct raft *r;
	struct sim_change *c;
	uint64_t what = sim_below(sim, 3);
	char address[16];
	int rv;

	for (i = 0; i < sim->n; i++)
		if (raft_fixture_alive(&sim->f, i) && raft_state(sim_raft(sim, i)) == RAFT_LEADER)
			cand[n++] = i;
	if (n == 0 || sim->change != NULL)
		return;
	l = cand[sim_below(sim, n)];
	r = sim_raft(sim, l);
	/* Only when libraft would accept a change: raft_add, raft_remove and
	 * raft_assign leak the encoded configuration when the core refuses it
	 * (legacy.c, clientChangeConfiguration returns RAFT_CANTCHANGE or
	 * RAFT_NOTLEADER without freeing entry.buf), and with a change of an
	 * earlier term still registered, legacy.c would overwrite it. */
	if (r->legacy.change != NULL || r->configuration_uncommitted_index != 0 ||
	    r->leader_state.promotee_id != 0 || r->leader_state.transferee != 0)
		return;
	/* Nor before the leader committed an entry of its own term: libraft
	 * 0.22.1 lacks this rule of single-server changes (Ongaro, raft-dev,
	 * 2015; membershipCanChangeConfiguration checks only that no change
	 * is uncommitted). Without it a new leader that has not yet learned
	 * of an uncommitted change of an earlier term appends one of its own;
	 * the two configurations can have disjoint majorities, and two leaders
	 * commit different entries at the same index (seed 35333: entry 4 a
	 * command on one server, a barrier on the others; I3 fails). */
	if (sim->servers[l].committed_term != r->current_term)
		return;
	n = 0;
	if (what == 0) { /* Join: a server outside the configuration. */
		for (i = 0; i < sim->n; i++)
			if (!sim->servers[i].retired && role_in(r, i) < 0)
				cand[n++] = i;
		if (n == 0 && sim->n == SIM_MAX_SERVERS)
			return;
		i = n > 0 ? cand[sim_below(sim, n)] : sim_grow(sim);
		c = change_new(sim, SIM_CHANGE_ADD, i);
		snprintf(address, sizeof address, "%u", i + 1);
		rv = raft_add(r, &c->req, (raft_id)i + 1, address, change_cb);
	} else if (what == 1) { /* Promote or demote. */
		for (i = 0; i < sim->n; i++)
			if (role_in(r, i) >= 0 && !sim->servers[i].retired &&
			    (role_in(r, i) != RAFT_VOTER || voters_in(r) > 3))
				cand[n++] = i;
		if (n == 0)
			return;
		i = cand[sim_below(sim, n)];
		c = change_new(sim, SIM_CHANGE_ASSIGN, i);
		if (role_in(r, i) != RAFT_VOTER)
			c->role = sim_below(sim, 4) == 0 ? RAFT_STANDBY : RAFT_VOTER;
		else
			c->role = sim_below(sim, 2) == 0 ? RAFT_STANDBY : RAFT_SPARE;
		if (role_in(r, i) == c->role)
			c->role = RAFT_VOTER;
		rv = raft_assign(r, &c->req, (raft_id)i + 1, c->role, change_cb);
	} else { /* Remove. */
		for (i = 0; i < sim->n; i++)
			if (role_in(r, i) >= 0 && (role_in(r, i) != RAFT_VOTER || voters_in(r) > 3))
				cand[n++] = i;
		if (n == 0)
			return;
		i = cand[sim_below(sim, n)];
		c = change_new(sim, SIM_CHANGE_REMOVE, i);
		rv = raft_remove(r, &c->req, (raft_id)i + 1, change_cb);
	}
	sim_trace(sim, (uint64_t)c->kind << 32 | (uint64_t)(unsigned)rv);
	if (getenv("LOGOS_SIM_TRACE"))
		fprintf(stderr, "[%llu] CHANGE %d server %u role %d by leader %u: %d\n",
			(unsigned long long)raft_fixture_time(&sim->f), c->kind, c->server, c->role,
			l, rv);
	if (rv != 0) {
		c->done = true;
		c->status = rv;
		return;
	}
	sim->stats.changes_proposed++;
	sim->change = c;
}

/* A random minority: 1 .. (n-1)/2 servers. */
static unsigned minority(struct sim *sim)
{
	unsigned size = 1 + (unsigned)sim_below(sim, (sim->n - 1) / 2), set = 0;

	while (__builtin_popcount(set) < (int)size)
		set |= 1u << sim_below(sim, sim->n);
	return set;
}

static void randomize_timeouts(struct sim *sim)
{
	for (unsigned i = 0; i < sim->n; i++)
		raft_fixture_set_randomized_election_timeout(&sim->f, i,
							     1000 + (unsigned)sim_below(sim, 1000));
}

/* One action of the schedule. */
static void act(struct sim *sim)
{
	struct raft_fixture *f = &sim->f;
	uint64_t r;
	unsigned i, j;

	/* Drawn only with membership on, so that seeds without it keep the
	 * schedules they had (test_sim.c's regression seeds). */
	if (sim->opts.membership && sim_below(sim, 100) < 5) {
		change(sim);
		return;
	}
	/* A crash: the server restarts from its persisted state once its
	 * requests in flight are done (sim_restart_crashed). */
	if (sim->opts.restarts && sim_below(sim, 100) < 3) {
		sim->stats.faults++;
		sim_crash(sim, (unsigned)sim_below(sim, sim->n));
		return;
	}
	r = sim_below(sim, 100);
	i = (unsigned)sim_below(sim, sim->n);
	sim_trace(sim, r);
	if (r < 45) {
		sim_propose_random(sim);
		return;
	}
	if (r < 75) {
		raft_fixture_step_n(f, 1 + (unsigned)sim_below(sim, 40));
		return;
	}
	sim->stats.faults++;
	switch (r) {
	case 75:
	case 76:
	case 77: /* Isolate the leader. */
		j = leader_of(sim);
		if (j < sim->n)
			split(sim, 1u << j);
		break;
	case 78:
	case 79:
	case 80: /* A minority and a majority. */
		split(sim, minority(sim));
		break;
	case 81:
	case 82: /* One-way drops. */
		j = (i + 1 + (unsigned)sim_below(sim, sim->n - 1)) % sim->n;
		raft_fixture_saturate(f, i, j);
		break;
	case 83:
	case 84:
	case 85:
	case 86:
		heal_network(sim);
		break;
	case 87:
	case 88:
		if (raft_fixture_alive(f, i))
			raft_fixture_kill(f, i);
		break;
	case 89:
	case 90:
	case 91:
		if (!raft_fixture_alive(f, i) && !sim->servers[i].retired &&
		    !sim->servers[i].crashed)
			raft_fixture_revive(f, i);
		break;
	case 92:
	case 93: /* I/O fails after `delay` more requests, `repeat` times. */
		if (sim->opts.io_faults)
			raft_fixture_io_fault(f, i, (int)sim_below(sim, 6),
					      1 + (int)sim_below(sim, 3));
		else
			sim_set_disk_latency(sim, i, 100 + (unsigned)sim_below(sim, 900));
		break;
	case 94:
	case 95:
		raft_fixture_set_network_latency(f, i, 5 + (unsigned)sim_below(sim, 150));
		break;
	case 96:
	case 97:
		sim_set_disk_latency(sim, i, 1 + (unsigned)sim_below(sim, 60));
		break;
	case 98: /* The leader hears no one but still speaks: it steps down
		  * for want of append results (raft_fixture_depose does it
		  * by dropping just those, but crashes libraft 0.22 when the
		  * cluster is also partitioned). */
		j = leader_of(sim);
		for (i = 0; j < sim->n && i < sim->n; i++)
			if (i != j)
				raft_fixture_saturate(f, i, j);
		break;
	default:
		raft_fixture_set_randomized_election_timeout(f, i,
							     1000 + (unsigned)sim_below(sim, 1000));
		break;
	}
}

static bool prop_done(struct raft_fixture *f, void *arg)
{
	struct sim_prop *p = arg;

	return p->done;
}

/* The alive server that leads in the highest term, sim->n if none. Not
 * raft_fixture_step_until_has_leader: the fixture also waits for every alive
 * server of its own configuration to follow that leader, and a server that
 * was made a spare while cut off never hears of it (spares get no entries),
 * believes it still votes and campaigns forever, ignored by the others. The
 * cluster is live all the same: the write below is what I6 asks. */
static unsigned top_leader(struct sim *sim)
{
	unsigned l = sim->n;

	for (unsigned i = 0; i < sim->n; i++) {
		struct raft *r = sim_raft(sim, i);

		if (raft_fixture_alive(&sim->f, i) && raft_state(r) == RAFT_LEADER &&
		    (l == sim->n || r->current_term > sim_raft(sim, l)->current_term))
			l = i;
	}
	return l;
}

static bool has_leader(struct raft_fixture *f, void *arg)
{
	struct sim *sim = arg;

	return top_leader(sim) < sim->n;
}

/* Whether every member (see heal_and_commit) applied `index`. */
struct applied_arg {
	struct sim *sim;
	const bool *member;
	uint64_t index;
};

static bool members_applied(struct raft_fixture *f, void *arg)
{
	struct applied_arg *a = arg;

	for (unsigned i = 0; i < a->sim->n; i++)
		if (a->member[i] && raft_last_applied(sim_raft(a->sim, i)) < a->index)
			return false;
	return true;
}

static void describe(struct sim *sim, char *what, size_t size)
{
	size_t len = 0;

	what[0] = '\0';
	for (unsigned i = 0; i < sim->n && len < size; i++) {
		struct raft *r = sim_raft(sim, i);

		len += (size_t)snprintf(what + len, size - len,
					" [server %u: state %d term %llu applied %llu commit %llu "
					"alive %d%s]",
					i, (int)raft_state(r), (unsigned long long)r->current_term,
					(unsigned long long)raft_last_applied(r),
					(unsigned long long)r->commit_index,
					raft_fixture_alive(&sim->f, i) ? 1 : 0,
					sim->servers[i].retired ? " retired" : "");
	}
}

/*
 * I6: once every fault is healed (every server revived but the retired ones),
 * a leader appears and a write commits within SIM_HEAL_BOUND simulated ms,
 * and within as long again every member applies it: the voters and standbys
 * of the leader's configuration. Returns the leader's index and fills
 * member[].
 */
static unsigned heal_and_commit(struct sim *sim, bool *member)
{
	struct raft_fixture *f = &sim->f;
	raft_time deadline;
	struct sim_prop *p = NULL;
	struct applied_arg arg;
	char what[1024];
	unsigned i, l = 0;

	heal_network(sim);
	for (i = 0; i < sim->n; i++) {
		if (sim->servers[i].retired)
			continue;
		/* A crashed server comes back by itself once restarted. */
		if (!raft_fixture_alive(f, i) && !sim->servers[i].crashed)
			raft_fixture_revive(f, i);
		raft_fixture_io_fault(f, i, -1, 0);
		raft_fixture_set_network_latency(f, i, 15);
		sim_set_disk_latency(sim, i, 10);
	}
	randomize_timeouts(sim);
	deadline = raft_fixture_time(f) + SIM_HEAL_BOUND;
	while (raft_fixture_time(f) < deadline) {
		raft_time left = deadline - raft_fixture_time(f);

		/* raft_fixture's "randomized" election timeouts are fixed
		 * values: two candidates whose timeouts fire together split
		 * the votes in every round (seed 20137, four voters, 2-2).
		 * Real timers are drawn again each time: so are these, after
		 * every 3 s without a leader. */
		if (!raft_fixture_step_until(f, has_leader, sim,
					     (unsigned)(left < 3000 ? left : 3000))) {
			randomize_timeouts(sim);
			continue;
		}
		l = top_leader(sim);
		p = sim_propose_put(sim, l);
		if (!p->done)
			raft_fixture_step_until(f, prop_done, p,
						(unsigned)(deadline - raft_fixture_time(f)));
		if (p->done && p->status == 0)
			break;
		/* Leadership changed under the write: try again. */
		raft_fixture_step(f);
	}
	if (p == NULL || !p->done || p->status != 0) {
		describe(sim, what, sizeof what);
		SIM_ASSERT(sim, false, "no write committed within %u ms of healing (I6):%s",
			   SIM_HEAL_BOUND, what);
	}
	l = p->server;
	for (i = 0; i < sim->n; i++) {
		int role = -1;
		struct raft *r = sim_raft(sim, l);

		for (unsigned k = 0; k < r->configuration.n; k++)
			if (r->configuration.servers[k].id == (raft_id)i + 1)
				role = r->configuration.servers[k].role;
		member[i] = role == RAFT_VOTER || role == RAFT_STANDBY;
		SIM_ASSERT(sim, !member[i] || !sim->servers[i].retired,
			   "retired server %u is in the configuration", i);
	}
	arg.sim = sim;
	arg.member = member;
	arg.index = p->index;
	if (!raft_fixture_step_until(f, members_applied, &arg, SIM_HEAL_BOUND)) {
		describe(sim, what, sizeof what);
		SIM_ASSERT(sim, false,
			   "index %llu not applied on every member within %u ms of healing "
			   "(I6):%s",
			   (unsigned long long)p->index, SIM_HEAL_BOUND, what);
	}
	return l;
}

uint64_t sim_run(uint64_t seed, unsigned steps, const struct sim_options *opts, const char *root,
		 struct sim_stats *stats)
{
	struct sim sim;
	bool member[SIM_MAX_SERVERS];
	uint64_t trace;
	unsigned n, l;

	/* The cluster size comes from the seed too. */
	n = (seed & 1) ? 5 : 3;
	sim_init(&sim, seed, n, opts, root);
	for (unsigned k = 0; k < steps; k++)
		act(&sim);
	l = heal_and_commit(&sim, member);
	sim_check_final(&sim, l, member);
	trace = sim.trace;
	if (stats != NULL)
		*stats = sim.stats;
	sim_close(&sim);
	return trace;
}
