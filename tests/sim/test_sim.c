/*
 * The simulation tier's tests (tests/sim/sim.h): every seed of the range is
 * one forked test — a fresh cluster, one seeded schedule of commands and
 * faults, the invariants checked — so that a failure names its seed (Check
 * prints the loop iteration, which is the seed, and every message starts with
 * it) and nothing crosses from one seed to the next. A run replays exactly
 * from its seed and options.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <check.h>

#include "tests/sim/sim.h"
#include "tests/sim/suites.h"

/* Read-only once the runner starts. */
static const struct sim_params *params;

/*
 * Seeds that failed once, replayed on every run with the options they failed
 * with, whatever the environment says. Their schedules are those of the
 * commit that fixed them (membership changes off keeps the draws of the
 * schedule from before they existed).
 */
static const struct regression {
	uint64_t seed;
	struct sim_options opts;
	const char *what;
	unsigned steps;
} regressions[] = {
	/* Fixed by sim_set_disk_latency: a lowered disk latency completed a
	 * later append first; libraft's last_stored went backwards ("persisted
	 * 4294967286 entry") and a server stayed at term 2 after healing. */
	{50, {.snapshots = false}, "out-of-order appends, no leader after healing", 150},
	{50, {.snapshots = true}, "out-of-order appends, no leader after healing", 150},
	{49, {.snapshots = true}, "out-of-order appends, a follower never caught up", 150},
	{67, {.snapshots = true}, "out-of-order appends, a follower never caught up", 150},
	{175, {.snapshots = true}, "out-of-order appends, a follower never caught up", 150},
	{463, {.snapshots = true}, "out-of-order appends, a follower never caught up", 150},
	{397, {.snapshots = true}, "out-of-order appends, heap corruption", 150},
	/* Worked around by io.c's recv_filter: an InstallSnapshot during a
	 * snapshot write made libraft call legacyPersistSnapshotStart(NULL). */
	{79, {.snapshots = true}, "InstallSnapshot while taking a snapshot, SEGV at 0x48", 150},
	/* Worked around by io.c's skip_snapshotted: an AppendEntries whose
	 * previous entry is below the receiver's log but covered by its
	 * snapshot (a late one from index 1 appended after the last index; a
	 * follower with a more recent snapshot than the leader's never caught
	 * up). */
	{350,
	 {.snapshots = true, .membership = true, .restarts = true},
	 "late AppendEntries below a joiner's snapshot",
	 150},
	{1545,
	 {.snapshots = true, .membership = true, .restarts = true},
	 "follower's snapshot more recent than the leader's",
	 150},
	{3910,
	 {.snapshots = true, .membership = true, .restarts = true},
	 "follower's snapshot more recent than the leader's",
	 150},
	/* Worked around by io.c's get_done: a snapshot load that returned a
	 * snapshot written after it was asked for went out under the older
	 * snapshot's term. */
	{10015,
	 {.snapshots = true, .membership = true, .restarts = true},
	 "InstallSnapshot with a newer index and an older term",
	 600},
	/* Worked around by schedule.c's change: a new leader changed the
	 * configuration before committing an entry of its term (libraft has
	 * no such rule); two leaders with disjoint majorities committed
	 * different entries at index 4 (I3). */
	{35333,
	 {.snapshots = true, .membership = true, .restarts = true},
	 "membership change before the leader's first commit: two majorities",
	 150},
	/* Worked around by io.c's unbatch and keep_commit: libraft's log
	 * freed a batch of loaded entries still held by a pending send (and
	 * a late AppendEntries lowered a commit index). */
	{120230,
	 {.snapshots = true, .membership = true, .restarts = true},
	 "batch of loaded entries freed under a pending send",
	 600},
	/* Worked around by fsm_snapshot (and consensus/fsm.c): a snapshot
	 * taken between two configuration events of one run of applied
	 * entries recorded the older configuration; a removed voter came
	 * back. */
	{220553,
	 {.snapshots = true, .membership = true, .restarts = true},
	 "snapshot labelled with a stale configuration",
	 600},
	/* Fixed by heal_and_commit drawing election timeouts again: fixed
	 * timeouts split the votes 2-2 in every round. */
	{20137,
	 {.snapshots = true, .membership = true, .restarts = true},
	 "split votes forever after healing",
	 150},
};

START_TEST(test_sim_faults_keep_invariants)
{
	sim_run((uint64_t)_i, params->steps, &params->opts, params->root, NULL);
}
END_TEST

START_TEST(test_sim_regression_seeds)
{
	const struct regression *r = &regressions[_i];

	(void)r->what;
	sim_run(r->seed, r->steps, &r->opts, params->root, NULL);
}
END_TEST

/* Same seed, same run: the trace (every fixture event, proposal, result,
 * membership change and digest) is identical; another seed gives another
 * trace. */
START_TEST(test_sim_same_seed_same_run)
{
	uint64_t seed = params->start;
	uint64_t a = sim_run(seed, params->steps, &params->opts, params->root, NULL);
	uint64_t b = sim_run(seed, params->steps, &params->opts, params->root, NULL);
	uint64_t c = sim_run(seed + 2, params->steps, &params->opts, params->root, NULL);

	ck_assert_msg(a == b, "seed %" PRIu64 ": two runs differ (%" PRIx64 " != %" PRIx64 ")",
		      seed, a, b);
	ck_assert_msg(a != c, "seeds %" PRIu64 " and %" PRIu64 " gave the same run", seed,
		      seed + 2);
}
END_TEST

/* The checks can fail: over a few seeds the schedule does real work of every
 * kind, and reports it. */
START_TEST(test_sim_runs_do_work)
{
	struct sim_options opts = {.snapshots = true, .membership = true, .restarts = true};
	struct sim_stats st, sum = {0};

	for (uint64_t seed = 1; seed <= 20; seed++) {
		sim_run(seed, 150, &opts, params->root, &st);
		sum.acked += st.acked;
		sum.failed += st.failed;
		sum.digests_compared += st.digests_compared;
		sum.puts_checked += st.puts_checked;
		sum.rewinds_checked += st.rewinds_checked;
		sum.snapshots += st.snapshots;
		sum.restores += st.restores;
		sum.changes_committed += st.changes_committed;
		sum.joined += st.joined;
		sum.retired += st.retired;
		sum.restarts += st.restarts;
		sum.replays += st.replays;
	}
	ck_assert_uint_gt(sum.acked, 0);
	ck_assert_uint_gt(sum.failed, 0);
	ck_assert_uint_gt(sum.digests_compared, 0);
	ck_assert_uint_gt(sum.puts_checked, 0);
	ck_assert_uint_gt(sum.rewinds_checked, 0);
	ck_assert_uint_gt(sum.snapshots, 0);
	ck_assert_uint_gt(sum.restores, 0);
	ck_assert_uint_gt(sum.changes_committed, 0);
	ck_assert_uint_gt(sum.joined, 0);
	ck_assert_uint_gt(sum.retired, 0);
	ck_assert_uint_gt(sum.restarts, 0);
	ck_assert_uint_gt(sum.replays, 0);
}
END_TEST

Suite *sim_suite(const struct sim_params *p)
{
	Suite *s = suite_create("sim");
	TCase *tc = tcase_create("sim");

	params = p;
	/* A crash is reported with the loop iteration: say which seed each
	 * regression iteration replays. */
	printf("check_sim: regression iterations (iteration=seed):");
	for (size_t k = 0; k < sizeof regressions / sizeof regressions[0]; k++)
		printf(" %zu=%" PRIu64, k, regressions[k].seed);
	printf("\n");
	fflush(stdout);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sim_same_seed_same_run);
	tcase_add_test(tc, test_sim_runs_do_work);
	tcase_add_loop_test(tc, test_sim_regression_seeds, 0,
			    (int)(sizeof regressions / sizeof regressions[0]));
	tcase_add_loop_test(tc, test_sim_faults_keep_invariants, (int)p->start,
			    (int)(p->start + p->seeds));
	suite_add_tcase(s, tc);
	return s;
}
