/*
 * check_statestore: runs every suite of statestore/ (the store's behaviours,
 * the model-based randomized test, snapshots) and exits non-zero if any test
 * failed or crashed.
 *
 * All stores live below one directory made for this run and exported as
 * TMPDIR, removed at the end: a failing test exits before its teardown (Check
 * skips checked teardowns after a failure), and its directory goes with the
 * rest. LOGOS_TEST_SEED overrides the base seed of the randomized tests.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "tests/unit/statestore/helpers.h"
#include "tests/unit/statestore/suites.h"

int main(void)
{
	char root[PATH_MAX];
	SRunner *sr;
	int failed;

	if (tmpdir_make(root, sizeof root) != 0) {
		fprintf(stderr, "check_statestore: cannot make a temporary directory: %s\n",
			strerror(errno));
		return EXIT_FAILURE;
	}
	if (setenv("TMPDIR", root, 1) != 0) {
		fprintf(stderr, "check_statestore: setenv: %s\n", strerror(errno));
		tmpdir_remove(root);
		return EXIT_FAILURE;
	}
	printf("check_statestore: seed %" PRIu64 " (set LOGOS_TEST_SEED to change it)\n",
	       test_seed());
	fflush(stdout);

	sr = srunner_create(store_suite());
	srunner_add_suite(sr, model_suite());
	srunner_add_suite(sr, snapshot_suite());
	srunner_add_suite(sr, apply_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr); /* Failures and errors. */
	srunner_free(sr);
	tmpdir_remove(root);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
