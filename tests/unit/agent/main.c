/*
 * check_agent: runs every suite of agent/ (the executor, the API's parsers, the API's
 * handlers against an in-process agent, the forwarded batches' wire format) and exits
 * non-zero if any test failed or crashed.
 */
#include "config.h"

#include <stdlib.h>

#include <check.h>

#include "tests/unit/agent/suites.h"

int main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(exec_suite());
	srunner_add_suite(sr, http_parse_suite());
	srunner_add_suite(sr, api_suite());
	srunner_add_suite(sr, attempts_suite());
	srunner_add_suite(sr, forward_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr); /* Failures and errors. */
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
