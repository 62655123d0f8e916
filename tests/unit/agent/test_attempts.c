/*
 * Tests of the set of attempts (agent/attempts.c), the executor's set of
 * known attempts and the reconciler's counts of queued final reports: against
 * a plain array as the model, through growth, removals that shift probe
 * chains and iteration.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "agent/attempts.h"
#include "tests/unit/agent/suites.h"

struct value {
	uint64_t a;
	void *p;
	bool flag;
};

START_TEST(test_attempts_add_find_remove)
{
	struct attempts s;
	struct value *v, *w;
	bool added;

	attempts_init(&s, sizeof *v);
	ck_assert_ptr_null(attempts_find(&s, 1, 1));
	attempts_remove(&s, 1, 1); /* nothing to remove: no effect */
	v = attempts_add(&s, 1, 1, &added);
	ck_assert_ptr_nonnull(v);
	ck_assert(added);
	ck_assert(v->a == 0 && v->p == NULL && !v->flag); /* zeroed */
	v->a = 42;
	w = attempts_add(&s, 1, 1, &added); /* twice is once, value kept */
	ck_assert(!added);
	ck_assert_ptr_eq(v, w);
	ck_assert_uint_eq(w->a, 42);
	ck_assert_ptr_null(attempts_find(&s, 1, 2)); /* another attempt */
	ck_assert_ptr_null(attempts_find(&s, 2, 1)); /* another process */
	ck_assert_uint_eq(attempts_count(&s), 1);
	attempts_remove(&s, 1, 1);
	ck_assert_ptr_null(attempts_find(&s, 1, 1));
	ck_assert_uint_eq(attempts_count(&s), 0);
	attempts_release(&s);
	ck_assert_ptr_nonnull(attempts_add(&s, 3, 1, NULL)); /* usable again */
	attempts_release(&s);
}
END_TEST

/* What a reserve promises: that many adds move no value. */
START_TEST(test_attempts_reserve_keeps_values_in_place)
{
	struct attempts s;
	uint32_t *first;
	uint32_t i;

	attempts_init(&s, sizeof(uint32_t));
	ck_assert_int_eq(attempts_reserve(&s, 1000), 0);
	first = attempts_add(&s, 7, 1, NULL);
	*first = 7;
	for (i = 0; i < 999; i++)
		ck_assert_ptr_nonnull(attempts_add(&s, 100 + i, 1, NULL));
	ck_assert_ptr_eq(attempts_find(&s, 7, 1), first);
	ck_assert_uint_eq(*first, 7);
	attempts_release(&s);
}
END_TEST

/* Random adds, count changes and removes over a small key space (many
 * collisions and backward shifts) against a model, through growths. */
START_TEST(test_attempts_match_a_model)
{
	enum {
		PIDS = 700,
		ATTEMPTS = 4,
		STEPS = 200000
	};
	static uint32_t model[PIDS + 1][ATTEMPTS + 1]; /* 0: absent, else value */
	struct attempts s;
	size_t n = 0, i, pos, seen;
	uint64_t pid, p;
	uint32_t attempt, at, *v;
	unsigned seed = 4242;

	memset(model, 0, sizeof model);
	attempts_init(&s, sizeof(uint32_t));
	for (i = 0; i < STEPS; i++) {
		pid = 1 + (uint64_t)(rand_r(&seed) % PIDS);
		attempt = 1 + (uint32_t)(rand_r(&seed) % ATTEMPTS);
		if (rand_r(&seed) % 3 != 0) {
			v = attempts_add(&s, pid, attempt, NULL);
			ck_assert_ptr_nonnull(v);
			ck_assert_uint_eq(*v, model[pid][attempt]);
			n += model[pid][attempt] == 0;
			*v = ++model[pid][attempt];
		} else {
			attempts_remove(&s, pid, attempt);
			n -= model[pid][attempt] != 0;
			model[pid][attempt] = 0;
		}
		ck_assert_uint_eq(attempts_count(&s), n);
		if (i % 9973 != 0)
			continue;
		for (p = 1; p <= PIDS; p++)
			for (at = 1; at <= ATTEMPTS; at++) {
				v = attempts_find(&s, p, at);
				ck_assert(model[p][at] == 0 ? v == NULL
							    : v != NULL && *v == model[p][at]);
			}
	}
	/* The iteration gives every key once, with its value. */
	for (seen = 0, pos = 0; (v = attempts_next(&s, &pos, &pid, &attempt)) != NULL; seen++) {
		ck_assert(pid >= 1 && pid <= PIDS && attempt >= 1 && attempt <= ATTEMPTS);
		ck_assert_uint_ne(model[pid][attempt], 0);
		ck_assert_uint_eq(*v, model[pid][attempt]);
	}
	ck_assert_uint_eq(seen, n);
	attempts_release(&s);
	pos = 0;
	ck_assert_ptr_null(attempts_next(&s, &pos, &pid, &attempt));
}
END_TEST

Suite *attempts_suite(void)
{
	Suite *s = suite_create("attempts");
	TCase *tc = tcase_create("attempts");

	tcase_add_test(tc, test_attempts_add_find_remove);
	tcase_add_test(tc, test_attempts_reserve_keeps_values_in_place);
	tcase_add_test(tc, test_attempts_match_a_model);
	suite_add_tcase(s, tc);
	return s;
}
