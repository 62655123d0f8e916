/*
 * Tests of agent/http_parse.h, the pure parsing of API requests: strict
 * percent-decoding (bad escapes and NUL bytes rejected), query parameters,
 * strict integers (overflow, signs, empty), file paths with the command
 * decoder's rules, queue names, restart policies, signal names, and JSON
 * bodies (unknown fields, wrong types, duplicates, NUL bytes, trailing data).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <check.h>

#include "agent/http_parse.h"
#include "common/error.h"
#include "services/command.h"
#include "tests/unit/agent/suites.h"

Suite *http_parse_suite(void);

static int decode(const char *in, bool plus, char *out, size_t cap, size_t *n)
{
	char err[200];

	return http_pct_decode(in, strlen(in), plus, out, cap, n, err, sizeof err);
}

START_TEST(test_pct_decode_escapes)
{
	char out[64];
	size_t n;

	ck_assert_int_eq(decode("a%2Fb%20c", false, out, sizeof out, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(memcmp(out, "a/b c", 5), 0);
	ck_assert_int_eq(decode("x+y", true, out, sizeof out, &n), 0);
	ck_assert_int_eq(memcmp(out, "x y", 3), 0);
	ck_assert_int_eq(decode("x+y", false, out, sizeof out, &n), 0);
	ck_assert_int_eq(memcmp(out, "x+y", 3), 0);
}
END_TEST

START_TEST(test_pct_decode_rejects_bad_escapes)
{
	char out[64];
	size_t n;

	ck_assert_int_eq(decode("%", false, out, sizeof out, &n), ERR_INVALID);
	ck_assert_int_eq(decode("a%2", false, out, sizeof out, &n), ERR_INVALID);
	ck_assert_int_eq(decode("%zz", false, out, sizeof out, &n), ERR_INVALID);
	ck_assert_int_eq(decode("%00", false, out, sizeof out, &n), ERR_INVALID);
}
END_TEST

START_TEST(test_pct_decode_limit)
{
	char out[4];
	size_t n;

	ck_assert_int_eq(decode("abcd", false, out, sizeof out, &n), 0);
	ck_assert_int_eq(decode("abcde", false, out, sizeof out, &n), ERR_TOOBIG);
}
END_TEST

START_TEST(test_query_find_and_check)
{
	static const char q[] = "at=5&stale&x=a%20b&at=7";
	static const char *const ok[] = {"at", "stale", "x", NULL};
	static const char *const few[] = {"at", NULL};
	const char *v;
	size_t vn;
	char err[200];

	ck_assert(http_query_find(q, strlen(q), "at", &v, &vn));
	ck_assert_uint_eq(vn, 1);
	ck_assert_int_eq(v[0], '5');
	ck_assert(http_query_find(q, strlen(q), "stale", &v, &vn));
	ck_assert_uint_eq(vn, 0);
	ck_assert(!http_query_find(q, strlen(q), "a", &v, &vn));
	ck_assert(!http_query_find(q, strlen(q), "sta", &v, &vn));
	ck_assert_int_eq(http_query_check(q, strlen(q), ok, err, sizeof err), 0);
	ck_assert_int_eq(http_query_check(q, strlen(q), few, err, sizeof err), ERR_INVALID);
	ck_assert_str_eq(err, "unknown query parameter 'stale'");
}
END_TEST

START_TEST(test_u64_parse_strict)
{
	uint64_t v;

	ck_assert_int_eq(http_u64_parse("42", 2, "pid", &v, NULL, 0), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(http_u64_parse("18446744073709551615", 20, "pid", &v, NULL, 0), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(http_u64_parse("18446744073709551616", 20, "pid", &v, NULL, 0),
			 ERR_INVALID);
	ck_assert_int_eq(http_u64_parse("", 0, "pid", &v, NULL, 0), ERR_INVALID);
	ck_assert_int_eq(http_u64_parse("-1", 2, "pid", &v, NULL, 0), ERR_INVALID);
	ck_assert_int_eq(http_u64_parse("+1", 2, "pid", &v, NULL, 0), ERR_INVALID);
	ck_assert_int_eq(http_u64_parse("1x", 2, "pid", &v, NULL, 0), ERR_INVALID);
	ck_assert_int_eq(http_u64_parse(" 1", 2, "pid", &v, NULL, 0), ERR_INVALID);
}
END_TEST

START_TEST(test_bool_parse)
{
	bool v;

	ck_assert_int_eq(http_bool_parse("1", 1, "f", &v, NULL, 0), 0);
	ck_assert(v);
	ck_assert_int_eq(http_bool_parse("", 0, "f", &v, NULL, 0), 0);
	ck_assert(v);
	ck_assert_int_eq(http_bool_parse("0", 1, "f", &v, NULL, 0), 0);
	ck_assert(!v);
	ck_assert_int_eq(http_bool_parse("2", 1, "f", &v, NULL, 0), ERR_INVALID);
}
END_TEST

static int path(const char *p)
{
	return http_path_check(p, strlen(p), NULL, 0);
}

START_TEST(test_path_check_rules)
{
	char long_path[CMD_PATH_MAX + 2];

	ck_assert_int_eq(path("/etc/app.conf"), 0);
	ck_assert_int_eq(path("/a"), 0);
	ck_assert_int_eq(path(""), ERR_INVALID);
	ck_assert_int_eq(path("/"), ERR_INVALID);
	ck_assert_int_eq(path("etc/x"), ERR_INVALID);
	ck_assert_int_eq(path("/a/"), ERR_INVALID);
	ck_assert_int_eq(path("/a//b"), ERR_INVALID);
	ck_assert_int_eq(path("/a/./b"), ERR_INVALID);
	ck_assert_int_eq(path("/a/../b"), ERR_INVALID);
	ck_assert_int_eq(path("/a/.."), ERR_INVALID);
	ck_assert_int_eq(path("/a/..b"), 0);
	ck_assert_int_eq(path("/a\tb"), ERR_INVALID);
	ck_assert_int_eq(path("/\xff"), ERR_INVALID);
	ck_assert_int_eq(http_path_check("/a\0b", 4, NULL, 0), ERR_INVALID);
	memset(long_path, 'a', sizeof long_path);
	long_path[0] = '/';
	ck_assert_int_eq(http_path_check(long_path, CMD_PATH_MAX, NULL, 0), 0);
	ck_assert_int_eq(http_path_check(long_path, CMD_PATH_MAX + 1, NULL, 0), ERR_TOOBIG);
}
END_TEST

START_TEST(test_queue_check)
{
	ck_assert_int_eq(http_queue_check("jobs.v1_a-b", 11, NULL, 0), 0);
	ck_assert_int_eq(http_queue_check("", 0, NULL, 0), ERR_INVALID);
	ck_assert_int_eq(http_queue_check("a/b", 3, NULL, 0), ERR_INVALID);
	ck_assert_int_eq(http_queue_check("a b", 3, NULL, 0), ERR_INVALID);
	ck_assert_int_eq(http_node_name_check("h1", 2, NULL, 0), 0);
}
END_TEST

START_TEST(test_restart_parse)
{
	uint32_t max;
	int restart;
	char s[32];

	ck_assert_int_eq(http_restart_parse("no", 2, &restart, &max, NULL, 0), 0);
	ck_assert_int_eq(restart, RESTART_NO);
	ck_assert_int_eq(http_restart_parse("always", 6, &restart, &max, NULL, 0), 0);
	ck_assert_int_eq(restart, RESTART_ALWAYS);
	ck_assert_int_eq(http_restart_parse("on-failure", 10, &restart, &max, NULL, 0), 0);
	ck_assert_int_eq(restart, RESTART_ON_FAILURE);
	ck_assert_uint_eq(max, 0);
	ck_assert_int_eq(http_restart_parse("on-failure:3", 12, &restart, &max, NULL, 0), 0);
	ck_assert_int_eq(restart, RESTART_ON_FAILURE);
	ck_assert_uint_eq(max, 3);
	ck_assert_int_eq(http_restart_parse("on-failure:0", 12, &restart, &max, NULL, 0),
			 ERR_INVALID);
	ck_assert_int_eq(http_restart_parse("on-failure:", 11, &restart, &max, NULL, 0),
			 ERR_INVALID);
	ck_assert_int_eq(http_restart_parse("on-failure:4294967296", 21, &restart, &max, NULL, 0),
			 ERR_INVALID);
	ck_assert_int_eq(http_restart_parse("sometimes", 9, &restart, &max, NULL, 0), ERR_INVALID);
	http_restart_format(RESTART_ON_FAILURE, 3, s, sizeof s);
	ck_assert_str_eq(s, "on-failure:3");
	http_restart_format(RESTART_ON_FAILURE, 0, s, sizeof s);
	ck_assert_str_eq(s, "on-failure");
}
END_TEST

START_TEST(test_signal_parse)
{
	int sig;

	ck_assert_int_eq(http_signal_parse("TERM", 4, &sig, NULL, 0), 0);
	ck_assert_int_eq(sig, 15);
	ck_assert_int_eq(http_signal_parse("sigkill", 7, &sig, NULL, 0), 0);
	ck_assert_int_eq(sig, 9);
	ck_assert_int_eq(http_signal_parse("SIGUSR1", 7, &sig, NULL, 0), 0);
	ck_assert_int_eq(sig, 10);
	ck_assert_int_eq(http_signal_parse("2", 1, &sig, NULL, 0), 0);
	ck_assert_int_eq(sig, 2);
	ck_assert_int_eq(http_signal_parse("0", 1, &sig, NULL, 0), ERR_INVALID);
	ck_assert_int_eq(http_signal_parse("65", 2, &sig, NULL, 0), ERR_INVALID);
	ck_assert_int_eq(http_signal_parse("SIG", 3, &sig, NULL, 0), ERR_INVALID);
	ck_assert_int_eq(http_signal_parse("BOGUS", 5, &sig, NULL, 0), ERR_INVALID);
}
END_TEST

static const struct http_field fields[] = {
	{"argv", JSON_ARRAY},
	{"cwd", JSON_STRING},
	{"timeout", -1},
};

static int body(const char *s, char *err, size_t errlen)
{
	json_t *j = NULL;
	int rv = http_json_body(s, strlen(s), fields, 3, &j, err, errlen);

	json_decref(j);
	return rv;
}

START_TEST(test_json_body_accepts_known_fields)
{
	char err[300];

	ck_assert_int_eq(
		body("{\"argv\": [\"ls\"], \"cwd\": \"/\", \"timeout\": 1.5}", err, sizeof err), 0);
	ck_assert_int_eq(body("", err, sizeof err), 0);
}
END_TEST

START_TEST(test_json_body_rejects_bad_input)
{
	char err[300];

	ck_assert_int_eq(body("{\"argv\": [], \"x\": 1}", err, sizeof err), ERR_INVALID);
	ck_assert_str_eq(err, "unknown field 'x'");
	ck_assert_int_eq(body("{\"cwd\": 1}", err, sizeof err), ERR_INVALID);
	ck_assert_str_eq(err, "field 'cwd' must be a string");
	ck_assert_int_eq(body("{\"cwd\": \"a\", \"cwd\": \"b\"}", err, sizeof err), ERR_INVALID);
	ck_assert_int_eq(body("{\"cwd\": \"a\\u0000b\"}", err, sizeof err), ERR_INVALID);
	ck_assert_int_eq(body("{\"cwd\": \"a\"} x", err, sizeof err), ERR_INVALID);
	ck_assert_int_eq(body("[1]", err, sizeof err), ERR_INVALID);
	ck_assert_int_eq(body("{", err, sizeof err), ERR_INVALID);
}
END_TEST

START_TEST(test_json_str_rejects_nul)
{
	const char *s;
	size_t n;
	json_t *v = json_stringn_nocheck("a\0b", 3);

	ck_assert_int_eq(http_json_str(v, "x", &s, &n, NULL, 0), ERR_INVALID);
	json_decref(v);
	v = json_string("ab");
	ck_assert_int_eq(http_json_str(v, "x", &s, &n, NULL, 0), 0);
	ck_assert_uint_eq(n, 2);
	json_decref(v);
}
END_TEST

START_TEST(test_utf8_and_hex)
{
	char hex[7];

	ck_assert(http_utf8_valid("h\xc3\xa9", 3));
	ck_assert(!http_utf8_valid("\xc3", 1));
	ck_assert(!http_utf8_valid("\xc0\xaf", 2));     /* overlong */
	ck_assert(!http_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
	http_hex("\x00\xab\xff", 3, hex);
	ck_assert_str_eq(hex, "00abff");
}
END_TEST

Suite *http_parse_suite(void)
{
	Suite *s = suite_create("http_parse");
	TCase *tc;

	tc = tcase_create("decode");
	tcase_add_test(tc, test_pct_decode_escapes);
	tcase_add_test(tc, test_pct_decode_rejects_bad_escapes);
	tcase_add_test(tc, test_pct_decode_limit);
	tcase_add_test(tc, test_query_find_and_check);
	tcase_add_test(tc, test_u64_parse_strict);
	tcase_add_test(tc, test_bool_parse);
	tcase_add_test(tc, test_utf8_and_hex);
	suite_add_tcase(s, tc);

	tc = tcase_create("validate");
	tcase_add_test(tc, test_path_check_rules);
	tcase_add_test(tc, test_queue_check);
	tcase_add_test(tc, test_restart_parse);
	tcase_add_test(tc, test_signal_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");
	tcase_add_test(tc, test_json_body_accepts_known_fields);
	tcase_add_test(tc, test_json_body_rejects_bad_input);
	tcase_add_test(tc, test_json_str_rejects_nul);
	suite_add_tcase(s, tc);
	return s;
}
