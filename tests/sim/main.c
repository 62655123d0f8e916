/*
 * check_sim: runs the simulation tier (tests/sim/sim.h) over a range of seeds,
 * after the regression seeds of test_sim.c, and exits non-zero if any failed
 * or crashed.
 *
 * Environment: LOGOS_SIM_SEEDS (how many seeds, default 500), LOGOS_SIM_START
 * (the first, default 1), LOGOS_SIM_STEPS (schedule actions per seed, default
 * 150); on by default, 0 turns them off: LOGOS_SIM_SNAPSHOTS (a snapshot
 * every 32 entries, installs on laggards and joiners), LOGOS_SIM_MEMBERSHIP
 * (joins, promotions, demotions, removals), LOGOS_SIM_RESTARTS (crashes and
 * restarts from the persisted state); off by default, since libraft 0.22.1
 * does not survive it (sim.h): LOGOS_SIM_IO_FAULTS=1 (raft_fixture_io_fault).
 * LOGOS_SIM_TRACE=1 prints raft's trace and the simulation's (restarts, what
 * a restart loads, each digest compared). A failing seed replays alone with
 * LOGOS_SIM_START=<seed> LOGOS_SIM_SEEDS=1 and the same variables. The stores
 * live below one directory made for this run, on tmpfs (/dev/shm) when there
 * is one since the simulation is not about fsync, and removed at the end.
 */
#include "config.h"

#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "tests/sim/suites.h"

/* Bounded by the sanitizer build of scripts/check: 500 seeds take about 5 s
 * in the debug build and 1-2 min under ASan+UBSan on 2 shared cores; soak
 * runs (tests/sim/soak) go further. */
#define DEFAULT_SEEDS 500
#define DEFAULT_STEPS 150

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long n;

	if (v == NULL || *v == '\0')
		return def;
	n = strtoull(v, &end, 10);
	if (*end != '\0') {
		fprintf(stderr, "check_sim: %s='%s' is not a number\n", name, v);
		exit(EXIT_FAILURE);
	}
	return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	char root[256];
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	struct sim_params p;
	SRunner *sr;
	int failed;

	snprintf(root, sizeof root, "%s/logos-sim-XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(root) == NULL) {
		perror("check_sim: mkdtemp");
		return EXIT_FAILURE;
	}
	p.root = root;
	p.start = env_u64("LOGOS_SIM_START", 1);
	p.seeds = env_u64("LOGOS_SIM_SEEDS", DEFAULT_SEEDS);
	p.steps = (unsigned)env_u64("LOGOS_SIM_STEPS", DEFAULT_STEPS);
	p.opts.snapshots = env_u64("LOGOS_SIM_SNAPSHOTS", 1) != 0;
	p.opts.membership = env_u64("LOGOS_SIM_MEMBERSHIP", 1) != 0;
	p.opts.restarts = env_u64("LOGOS_SIM_RESTARTS", 1) != 0;
	p.opts.io_faults = env_u64("LOGOS_SIM_IO_FAULTS", 0) != 0;
	if (p.start + p.seeds > INT32_MAX) {
		fprintf(stderr, "check_sim: seeds must stay below %d\n", INT32_MAX);
		return EXIT_FAILURE;
	}
	printf("check_sim: seeds %" PRIu64 "..%" PRIu64 ", %u steps each (LOGOS_SIM_START, "
	       "LOGOS_SIM_SEEDS, LOGOS_SIM_STEPS); a failure's loop iteration is its seed\n",
	       p.start, p.start + p.seeds - 1, p.steps);
	fflush(stdout);

	sr = srunner_create(sim_suite(&p));
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
