/*
 * check_common: runs every suite of common/ (buffers, errors, hashing and
 * msgpack helpers) and exits non-zero if any test failed or crashed.
 */
#include "config.h"

#include <stdlib.h>

#include <check.h>

#include "tests/unit/common/suites.h"

int main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(buf_suite());
	srunner_add_suite(sr, error_suite());
	srunner_add_suite(sr, hash_suite());
	srunner_add_suite(sr, pack_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr); /* Failures and errors. */
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
