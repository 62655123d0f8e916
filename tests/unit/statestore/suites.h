/*
 * The suites of check_statestore, the unit-test runner of statestore/ (one
 * runner per module, STYLE.md "Tests"). Each test_<file>.c builds one suite;
 * main.c runs them all.
 */
#ifndef LOGOS_TESTS_UNIT_STATESTORE_SUITES_H
#define LOGOS_TESTS_UNIT_STATESTORE_SUITES_H

#include <check.h>

Suite *store_suite(void);
Suite *model_suite(void);
Suite *snapshot_suite(void);
Suite *apply_suite(void);

#endif /* LOGOS_TESTS_UNIT_STATESTORE_SUITES_H */
