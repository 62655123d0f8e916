/*
 * The suites of check_agent, the unit-test runner of agent/ (one runner per
 * module, STYLE.md "Tests"). Each test_<file>.c builds one suite; main.c runs
 * them all.
 */
#ifndef LOGOS_TESTS_UNIT_AGENT_SUITES_H
#define LOGOS_TESTS_UNIT_AGENT_SUITES_H

#include <check.h>

Suite *exec_suite(void);
Suite *http_parse_suite(void);
Suite *api_suite(void);
Suite *attempts_suite(void);
Suite *forward_suite(void);

#endif /* LOGOS_TESTS_UNIT_AGENT_SUITES_H */
