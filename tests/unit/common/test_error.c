/*
 * Tests of common/error.h: the error table gives every code a distinct,
 * non-empty description and machine name (unknown codes get fixed fallbacks),
 * err_set formats a message and returns its code, and err_wrap adds context
 * in front of the message already there ("ctx: old").
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#include <check.h>

#include "common/error.h"
#include "tests/unit/common/suites.h"

START_TEST(test_err_ok_is_zero)
{
	ck_assert_int_eq(ERR_OK, 0);
	ck_assert_int_ne(ERR_NOMEM, 0);
	ck_assert_int_gt(ERR__COUNT, ERR_INTERNAL);
}
END_TEST

START_TEST(test_err_str_distinct_and_non_empty)
{
	int a, b;

	for (a = 0; a < ERR__COUNT; a++) {
		ck_assert_ptr_nonnull(err_str(a));
		ck_assert_msg(err_str(a)[0] != '\0', "code %d has an empty description", a);
		ck_assert_str_ne(err_str(a), "unknown error");
		for (b = a + 1; b < ERR__COUNT; b++)
			ck_assert_msg(strcmp(err_str(a), err_str(b)) != 0,
				      "codes %d and %d share the description '%s'", a, b,
				      err_str(a));
	}
}
END_TEST

START_TEST(test_err_name_distinct_and_non_empty)
{
	int a, b;

	for (a = 0; a < ERR__COUNT; a++) {
		ck_assert_ptr_nonnull(err_name(a));
		ck_assert_msg(err_name(a)[0] != '\0', "code %d has an empty name", a);
		ck_assert_str_ne(err_name(a), "unknown");
		for (b = a + 1; b < ERR__COUNT; b++)
			ck_assert_msg(strcmp(err_name(a), err_name(b)) != 0,
				      "codes %d and %d share the name '%s'", a, b, err_name(a));
	}
}
END_TEST

START_TEST(test_err_str_matches_table)
{
	ck_assert_str_eq(err_str(ERR_OK), "success");
	ck_assert_str_eq(err_str(ERR_NOMEM), "out of memory");
	ck_assert_str_eq(err_str(ERR_NOTFOUND), "not found");
	ck_assert_str_eq(err_str(ERR_INTERNAL), "internal error");
}
END_TEST

START_TEST(test_err_name_matches_table)
{
	/* These names appear in API error replies (DESIGN §6). */
	ck_assert_str_eq(err_name(ERR_OK), "ok");
	ck_assert_str_eq(err_name(ERR_NOTFOUND), "notfound");
	ck_assert_str_eq(err_name(ERR_RANGE), "range");
	ck_assert_str_eq(err_name(ERR_CORRUPT), "corrupt");
	ck_assert_str_eq(err_name(ERR_INTERNAL), "internal");
}
END_TEST

START_TEST(test_err_str_unknown_code)
{
	static const int codes[] = {-1, ERR__COUNT, ERR__COUNT + 1, INT_MAX, INT_MIN};
	size_t i;

	for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
		ck_assert_str_eq(err_str(codes[i]), "unknown error");
}
END_TEST

START_TEST(test_err_name_unknown_code)
{
	static const int codes[] = {-1, ERR__COUNT, ERR__COUNT + 1, INT_MAX, INT_MIN};
	size_t i;

	for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
		ck_assert_str_eq(err_name(codes[i]), "unknown");
}
END_TEST

START_TEST(test_err_set_formats_and_returns_code)
{
	char msg[64];

	ck_assert_int_eq(err_set(msg, sizeof msg, ERR_NOTFOUND, "node %d: key '%s'", 3, "k"),
			 ERR_NOTFOUND);
	ck_assert_str_eq(msg, "node 3: key 'k'");
	ck_assert_int_eq(err_set(msg, sizeof msg, ERR_INVALID, "bad key"), ERR_INVALID);
	ck_assert_str_eq(msg, "bad key");
}
END_TEST

START_TEST(test_err_set_truncates_and_terminates)
{
	char msg[16];

	memset(msg, 'x', sizeof msg);
	ck_assert_int_eq(err_set(msg, 8, ERR_IO, "%s", "0123456789abcdef"), ERR_IO);
	ck_assert_str_eq(msg, "0123456");
	/* Nothing past the given size is touched. */
	ck_assert_int_eq(msg[8], 'x');
}
END_TEST

START_TEST(test_err_set_without_buffer_returns_code)
{
	char msg[4] = "abc";

	ck_assert_int_eq(err_set(NULL, 0, ERR_BUSY, "ignored %d", 1), ERR_BUSY);
	ck_assert_int_eq(err_set(msg, 0, ERR_BUSY, "ignored"), ERR_BUSY);
	ck_assert_str_eq(msg, "abc");
}
END_TEST

START_TEST(test_err_wrap_prefixes_context)
{
	char msg[128];

	err_set(msg, sizeof msg, ERR_DENIED, "mdb_env_open: Permission denied");
	ck_assert_int_eq(err_wrap(msg, sizeof msg, ERR_DENIED, "open store '%s'", "/var/lib/logos"),
			 ERR_DENIED);
	ck_assert_str_eq(msg, "open store '/var/lib/logos': mdb_env_open: Permission denied");
}
END_TEST

START_TEST(test_err_wrap_nests)
{
	char msg[128];

	err_set(msg, sizeof msg, ERR_IO, "c");
	err_wrap(msg, sizeof msg, ERR_IO, "b");
	err_wrap(msg, sizeof msg, ERR_IO, "a");
	ck_assert_str_eq(msg, "a: b: c");
}
END_TEST

START_TEST(test_err_wrap_empty_message_uses_code_description)
{
	char msg[64] = "";

	ck_assert_int_eq(err_wrap(msg, sizeof msg, ERR_NOTFOUND, "read '%s'", "x"), ERR_NOTFOUND);
	ck_assert_str_eq(msg, "read 'x': not found");
}
END_TEST

START_TEST(test_err_wrap_truncates_and_terminates)
{
	char msg[12];

	err_set(msg, sizeof msg, ERR_IO, "disk");
	err_wrap(msg, sizeof msg, ERR_IO, "writing");
	ck_assert_str_eq(msg, "writing: di");
	ck_assert_uint_eq(strlen(msg), sizeof msg - 1);
}
END_TEST

Suite *error_suite(void)
{
	Suite *s = suite_create("error");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_test(tc, test_err_ok_is_zero);
	tcase_add_test(tc, test_err_str_distinct_and_non_empty);
	tcase_add_test(tc, test_err_name_distinct_and_non_empty);
	tcase_add_test(tc, test_err_str_matches_table);
	tcase_add_test(tc, test_err_name_matches_table);
	tcase_add_test(tc, test_err_str_unknown_code);
	tcase_add_test(tc, test_err_name_unknown_code);
	suite_add_tcase(s, tc);

	tc = tcase_create("message");
	tcase_add_test(tc, test_err_set_formats_and_returns_code);
	tcase_add_test(tc, test_err_set_truncates_and_terminates);
	tcase_add_test(tc, test_err_set_without_buffer_returns_code);
	tcase_add_test(tc, test_err_wrap_prefixes_context);
	tcase_add_test(tc, test_err_wrap_nests);
	tcase_add_test(tc, test_err_wrap_empty_message_uses_code_description);
	tcase_add_test(tc, test_err_wrap_truncates_and_terminates);
	suite_add_tcase(s, tc);
	return s;
}
