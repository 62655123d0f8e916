/*
 * The suite of check_sim, the runner of the simulation tier (tests/sim/sim.h),
 * and the parameters main.c reads from the environment.
 */
#ifndef LOGOS_TESTS_SIM_SUITES_H
#define LOGOS_TESTS_SIM_SUITES_H

#include <stdbool.h>
#include <stdint.h>

#include <check.h>

#include "tests/sim/sim.h"

struct sim_params {
	const char *root; /* directory for the stores (tmpfs when possible) */
	uint64_t start;   /* first seed */
	uint64_t seeds;   /* number of seeds */
	unsigned steps;   /* schedule actions per seed */
	struct sim_options
		opts; /* LOGOS_SIM_SNAPSHOTS, LOGOS_SIM_MEMBERSHIP, LOGOS_SIM_IO_FAULTS */
};

/* `params` must outlive the suite's run. */
Suite *sim_suite(const struct sim_params *params);

#endif /* LOGOS_TESTS_SIM_SUITES_H */
