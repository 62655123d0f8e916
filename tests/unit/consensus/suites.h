/*
 * The suites of check_consensus, the unit-test runner of consensus/ (one runner
 * per module, STYLE.md "Tests"): the authenticated transport and real raft
 * clusters on one loop in one process.
 */
#ifndef LOGOS_TESTS_UNIT_CONSENSUS_SUITES_H
#define LOGOS_TESTS_UNIT_CONSENSUS_SUITES_H

#include <check.h>

Suite *transport_suite(void);
Suite *consensus_suite(void);

#endif /* LOGOS_TESTS_UNIT_CONSENSUS_SUITES_H */
