/*
 * Tests of the set of process ids (agent/pidset.c), which holds the
 * reconciler's index of this node's live processes: against a plain array
 * as the model, through growth, removals that shift probe chains, and the
 * sorted copy an index pass walks.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "agent/pidset.h"
#include "tests/unit/agent/suites.h"

START_TEST(test_pidset_add_remove_has)
{
	struct pidset s;

	pidset_init(&s);
	ck_assert(!pidset_has(&s, 1));
	pidset_remove(&s, 1); /* nothing to remove: no effect */
	ck_assert_int_eq(pidset_add(&s, 7), 0);
	ck_assert_int_eq(pidset_add(&s, 7), 0); /* twice is once */
	ck_assert_uint_eq(pidset_count(&s), 1);
	ck_assert(pidset_has(&s, 7));
	ck_assert(!pidset_has(&s, 8));
	pidset_remove(&s, 7);
	ck_assert(!pidset_has(&s, 7));
	ck_assert_uint_eq(pidset_count(&s), 0);
	pidset_release(&s);
}
END_TEST

/* Random adds and removes over a small key range (many collisions and
 * backward shifts) against a model, through several growths. */
START_TEST(test_pidset_matches_a_model)
{
	enum {
		RANGE = 5000,
		STEPS = 200000
	};
	static bool model[RANGE + 1];
	struct pidset s;
	size_t n = 0, i, k;
	uint64_t *sorted;
	unsigned seed = 12345;

	memset(model, 0, sizeof model);
	pidset_init(&s);
	for (i = 0; i < STEPS; i++) {
		uint64_t pid = 1 + (uint64_t)(rand_r(&seed) % RANGE);

		if (rand_r(&seed) % 3 != 0) {
			ck_assert_int_eq(pidset_add(&s, pid), 0);
			n += !model[pid];
			model[pid] = true;
		} else {
			pidset_remove(&s, pid);
			n -= model[pid];
			model[pid] = false;
		}
		ck_assert_uint_eq(pidset_count(&s), n);
		if (i % 10007 == 0)
			for (k = 1; k <= RANGE; k++)
				ck_assert(pidset_has(&s, k) == model[k]);
	}
	for (k = 1; k <= RANGE; k++)
		ck_assert(pidset_has(&s, k) == model[k]);
	sorted = pidset_sorted(&s, &i);
	ck_assert_uint_eq(i, n);
	for (k = 0; k + 1 < i; k++)
		ck_assert(sorted[k] < sorted[k + 1]);
	for (k = 0; k < i; k++)
		ck_assert(model[sorted[k]]);
	free(sorted);
	pidset_clear(&s);
	ck_assert_uint_eq(pidset_count(&s), 0);
	for (k = 1; k <= RANGE; k++)
		ck_assert(!pidset_has(&s, k));
	ck_assert_int_eq(pidset_add(&s, 3), 0); /* usable again */
	ck_assert(pidset_has(&s, 3));
	pidset_release(&s);
}
END_TEST

START_TEST(test_pidset_sorted_of_an_empty_set_is_empty)
{
	struct pidset s;
	size_t n = 99;

	pidset_init(&s);
	ck_assert_ptr_null(pidset_sorted(&s, &n));
	ck_assert_uint_eq(n, 0);
	pidset_release(&s);
}
END_TEST

Suite *pidset_suite(void)
{
	Suite *s = suite_create("pidset");
	TCase *tc = tcase_create("pidset");

	tcase_add_test(tc, test_pidset_add_remove_has);
	tcase_add_test(tc, test_pidset_matches_a_model);
	tcase_add_test(tc, test_pidset_sorted_of_an_empty_set_is_empty);
	suite_add_tcase(s, tc);
	return s;
}
