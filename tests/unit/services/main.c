/*
 * check_services: the runner of the services' unit tests.
 */
#include "config.h"

#include <stdlib.h>

#include <check.h>

#include "tests/unit/services/suites.h"

int main(void)
{
	SRunner *sr = srunner_create(command_suite());
	int failed;

	srunner_add_suite(sr, service_suite());
	srunner_add_suite(sr, proc_suite());
	srunner_add_suite(sr, steps_suite());
	srunner_add_suite(sr, nodes_suite());
	srunner_add_suite(sr, msg_suite());
	srunner_add_suite(sr, files_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
