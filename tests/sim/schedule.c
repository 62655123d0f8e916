/*
 * One simulated run (tests/sim/sim.h): a seeded schedule of client commands
 * mixed with faults — the leader isolated, minority/majority splits, one-way
 * drops (raft_fixture_saturate), servers killed and revived, disk I/O faults
 * (an append or snapshot that fails may make a server step down, which is
 * allowed), network and disk latency changes, election timeout changes — with
 * snapshots taken every 32 entries and installed on laggards. Then every
 * fault is healed, and a leader must exist and a new write commit on every
 * server within a bounded simulated time (I6) before the final checks.
 */
#include "config.h"

#include <stdio.h>
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
			if (i != j && ((set >> i) & 1) != ((set >> j) & 1))
				raft_fixture_saturate(&sim->f, i, j);
}

static void heal_network(struct sim *sim)
{
	for (unsigned i = 0; i < sim->n; i++)
		for (unsigned j = 0; j < sim->n; j++)
			if (i != j)
				raft_fixture_desaturate(&sim->f, i, j);
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
	uint64_t r = sim_below(sim, 100);
	unsigned i = (unsigned)sim_below(sim, sim->n), j;

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
		if (!raft_fixture_alive(f, i))
			raft_fixture_revive(f, i);
		break;
	case 92:
	case 93: /* I/O fails after `delay` more requests, `repeat` times. */
		if (sim->io_faults)
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

/* I6: once every fault is healed, a leader appears and a write commits on
 * every server within SIM_HEAL_BOUND simulated ms. */
static void heal_and_commit(struct sim *sim)
{
	struct raft_fixture *f = &sim->f;
	raft_time deadline;
	struct sim_prop *p = NULL;
	unsigned i;

	heal_network(sim);
	for (i = 0; i < sim->n; i++) {
		if (!raft_fixture_alive(f, i))
			raft_fixture_revive(f, i);
		raft_fixture_io_fault(f, i, -1, 0);
		raft_fixture_set_network_latency(f, i, 15);
		sim_set_disk_latency(sim, i, 10);
	}
	randomize_timeouts(sim);
	deadline = raft_fixture_time(f) + SIM_HEAL_BOUND;
	while (raft_fixture_time(f) < deadline) {
		unsigned l;

		if (!raft_fixture_step_until_has_leader(
			    f, (unsigned)(deadline - raft_fixture_time(f))))
			break;
		l = raft_fixture_leader_index(f);
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
		char what[512];
		size_t len = 0;

		for (i = 0; i < sim->n; i++) {
			struct raft *r = sim_raft(sim, i);

			len += (size_t)snprintf(what + len, sizeof what - len,
						" [server %u: state %d term %llu applied %llu]", i,
						(int)raft_state(r),
						(unsigned long long)r->current_term,
						(unsigned long long)raft_last_applied(r));
		}
		SIM_ASSERT(sim, false, "no write committed within %u ms of healing (I6):%s",
			   SIM_HEAL_BOUND, what);
	}
	if (!raft_fixture_step_until_applied(f, sim->n, p->index, SIM_HEAL_BOUND)) {
		char what[512];
		size_t len = 0;

		for (i = 0; i < sim->n; i++) {
			struct raft *r = sim_raft(sim, i);

			len += (size_t)snprintf(what + len, sizeof what - len,
						" [server %u: state %d term %llu applied %llu "
						"commit %llu]",
						i, (int)raft_state(r),
						(unsigned long long)r->current_term,
						(unsigned long long)raft_last_applied(r),
						(unsigned long long)r->commit_index);
		}
		SIM_ASSERT(sim, false,
			   "index %llu not applied on every server within %u ms of healing (I6):%s",
			   (unsigned long long)p->index, SIM_HEAL_BOUND, what);
	}
}

uint64_t sim_run(uint64_t seed, unsigned steps, bool io_faults, bool snapshots, const char *root,
		 struct sim_stats *stats)
{
	struct sim sim;
	uint64_t trace;
	unsigned n;

	/* The cluster size comes from the seed too. */
	n = (seed & 1) ? 5 : 3;
	sim_init(&sim, seed, n, snapshots, root);
	sim.io_faults = io_faults;
	for (unsigned k = 0; k < steps; k++)
		act(&sim);
	heal_and_commit(&sim);
	sim_check_final(&sim);
	trace = sim.trace;
	if (stats != NULL)
		*stats = sim.stats;
	sim_close(&sim);
	return trace;
}
