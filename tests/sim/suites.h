/*
 * The suite of check_sim, the runner of the simulation tier (tests/sim/sim.h),
 * and the parameters main.c reads from the environment.
 */
#ifndef LOGOS_TESTS_SIM_SUITES_H
#define LOGOS_TESTS_SIM_SUITES_H

#include <stdbool.h>
#include <stdint.h>

#include <check.h>

struct sim_params {
	const char *root; /* directory for the stores (tmpfs when possible) */
	uint64_t start;   /* first seed */
	uint64_t seeds;   /* number of seeds */
	unsigned steps;   /* schedule actions per seed */
	bool io_faults;   /* LOGOS_SIM_IO_FAULTS: inject raft_fixture_io_fault */
	bool snapshots;   /* LOGOS_SIM_SNAPSHOTS: snapshot every 32 entries */
	bool known;       /* LOGOS_SIM_KNOWN: also run the seeds of known libraft failures */
};

/* `params` must outlive the suite's run. */
Suite *sim_suite(const struct sim_params *params);

#endif /* LOGOS_TESTS_SIM_SUITES_H */
