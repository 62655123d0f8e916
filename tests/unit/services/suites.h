/*
 * The suites of check_services.
 */
#ifndef LOGOS_TESTS_SERVICES_SUITES_H
#define LOGOS_TESTS_SERVICES_SUITES_H

#include <check.h>

Suite *command_suite(void);
Suite *service_suite(void);
Suite *proc_suite(void);
Suite *steps_suite(void);
Suite *nodes_suite(void);
Suite *msg_suite(void);
Suite *files_suite(void);

#endif /* LOGOS_TESTS_SERVICES_SUITES_H */
