/*
 * The suites of check_common, the unit-test runner of common/ (one runner per
 * module, STYLE.md "Tests"). Each test_<file>.c builds one suite; main.c runs
 * them all.
 */
#ifndef LOGOS_TESTS_UNIT_COMMON_SUITES_H
#define LOGOS_TESTS_UNIT_COMMON_SUITES_H

#include <check.h>

Suite *buf_suite(void);
Suite *error_suite(void);
Suite *hash_suite(void);
Suite *pack_suite(void);

#endif /* LOGOS_TESTS_UNIT_COMMON_SUITES_H */
