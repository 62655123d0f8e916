/*
 * Tests of the wire format of forwarded batches (agent/forward.h): what a
 * follower sends the leader, and what the leader answers. Every truncation
 * and every bad length must be a clean error, never a read past the end
 * (the runner runs under ASan in the fuzz build; here the lengths are
 * checked against what the reader returns).
 */
#include "config.h"

#include <string.h>

#include <check.h>

#include "agent/forward.h"
#include "common/error.h"
#include "services/command.h"
#include "tests/unit/agent/suites.h"

static const char *const cmds[] = {"a", "bcd", "the third command"};

static void three_cmds(struct buf *b)
{
	size_t i;

	buf_init(b);
	ck_assert_int_eq(forward_begin(b), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(forward_add_cmd(b, cmds[i], strlen(cmds[i])), 0);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

START_TEST(test_forward_cmds_round_trip)
{
	struct forward_reader rd;
	struct buf b;
	const void *p;
	size_t len, i;
	char err[160];

	three_cmds(&b);
	ck_assert_uint_eq(b.len, 4 + 3 * 4 + 1 + 3 + 17);
	ck_assert_int_eq(forward_cmds_open(&rd, b.data, b.len, err, sizeof err), 0);
	ck_assert_uint_eq(rd.n, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(forward_cmds_next(&rd, &p, &len), 0);
		ck_assert_uint_eq(len, strlen(cmds[i]));
		ck_assert(memcmp(p, cmds[i], len) == 0);
	}
	ck_assert_int_eq(forward_cmds_next(&rd, &p, &len), ERR_NOTFOUND);
	buf_release(&b);
}
END_TEST

START_TEST(test_forward_cmds_every_truncation_is_an_error)
{
	struct forward_reader rd;
	struct buf b;
	size_t n;
	char err[160];

	three_cmds(&b);
	for (n = 0; n < b.len; n++) {
		err[0] = '\0';
		ck_assert_msg(forward_cmds_open(&rd, b.data, n, err, sizeof err) == ERR_INVALID,
			      "a body cut to %zu bytes was accepted", n);
		ck_assert_msg(err[0] != '\0', "no reason for a body cut to %zu bytes", n);
	}
	buf_release(&b);
}
END_TEST

START_TEST(test_forward_cmds_bad_counts_and_lengths_are_errors)
{
	struct forward_reader rd;
	struct buf b;
	char err[160];

	three_cmds(&b);
	/* No command. */
	put32(b.data, 0);
	ck_assert_int_eq(forward_cmds_open(&rd, b.data, b.len, err, sizeof err), ERR_INVALID);
	ck_assert_msg(strstr(err, "count 0") != NULL, "%s", err);
	/* More than an entry may hold. */
	put32(b.data, CMD_BATCH_MAX + 1);
	ck_assert_int_eq(forward_cmds_open(&rd, b.data, b.len, err, sizeof err), ERR_INVALID);
	/* More commands than the body holds. */
	put32(b.data, 4);
	ck_assert_int_eq(forward_cmds_open(&rd, b.data, b.len, err, sizeof err), ERR_INVALID);
	ck_assert_msg(strstr(err, "command 4 of 4") != NULL, "%s", err);
	/* Fewer: bytes after the last. */
	put32(b.data, 2);
	ck_assert_int_eq(forward_cmds_open(&rd, b.data, b.len, err, sizeof err), ERR_INVALID);
	ck_assert_msg(strstr(err, "follow the last") != NULL, "%s", err);
	put32(b.data, 3);
	/* A length past the end, the largest, and 0. */
	put32(b.data + 4, 1000);
	ck_assert_int_eq(forward_cmds_open(&rd, b.data, b.len, err, sizeof err), ERR_INVALID);
	ck_assert_msg(strstr(err, "command 1 of 3 has length 1000") != NULL, "%s", err);
	put32(b.data + 4, UINT32_MAX);
	ck_assert_int_eq(forward_cmds_open(&rd, b.data, b.len, err, sizeof err), ERR_INVALID);
	put32(b.data + 4, 0);
	ck_assert_int_eq(forward_cmds_open(&rd, b.data, b.len, err, sizeof err), ERR_INVALID);
	put32(b.data + 4, 1);
	ck_assert_int_eq(forward_cmds_open(&rd, b.data, b.len, err, sizeof err), 0);
	/* An empty command cannot be written either. */
	ck_assert_int_eq(forward_add_cmd(&b, "", 0), ERR_INVALID);
	buf_release(&b);
}
END_TEST

static void three_results(struct buf *b, struct agent_result *rs)
{
	size_t i;

	memset(rs, 0, 3 * sizeof *rs);
	rs[0].index = 42;
	rs[0].code = 0;
	rs[0].result = "\x81\xa1x\x01";
	rs[0].result_len = 4;
	rs[0].message = "";
	rs[1].index = 43;
	rs[1].code = ERR_CONFLICT;
	rs[1].message = "version 3 is not 2";
	rs[1].message_len = strlen(rs[1].message);
	rs[2].status = ERR_UNAVAILABLE;
	rs[2].leader_http = "127.0.0.1:7700";
	buf_init(b);
	ck_assert_int_eq(forward_begin(b), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(forward_add_result(b, &rs[i]), 0);
}

START_TEST(test_forward_results_round_trip)
{
	struct agent_result rs[3], r;
	struct forward_reader rd;
	struct buf b;
	char err[160];
	size_t i;

	three_results(&b, rs);
	ck_assert_int_eq(forward_results_open(&rd, b.data, b.len, 3, err, sizeof err), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(forward_results_next(&rd, &r), 0);
		ck_assert_int_eq(r.status, rs[i].status);
		ck_assert_uint_eq(r.index, rs[i].index);
		ck_assert_int_eq(r.code, rs[i].code);
		ck_assert_uint_eq(r.message_len, rs[i].message_len);
		ck_assert(memcmp(r.message, rs[i].message != NULL ? rs[i].message : "",
				 r.message_len) == 0);
		ck_assert_uint_eq(r.result_len, rs[i].result_len);
		ck_assert(memcmp(r.result, rs[i].result != NULL ? rs[i].result : "",
				 r.result_len) == 0);
		if (rs[i].leader_http == NULL)
			ck_assert_ptr_null(r.leader_http);
		else
			ck_assert_str_eq(r.leader_http, rs[i].leader_http);
	}
	ck_assert_int_eq(forward_results_next(&rd, &r), ERR_NOTFOUND);
	buf_release(&b);
}
END_TEST

START_TEST(test_forward_results_every_truncation_is_an_error)
{
	struct agent_result rs[3];
	struct forward_reader rd;
	struct buf b;
	char err[160];
	size_t n;

	three_results(&b, rs);
	for (n = 0; n < b.len; n++) {
		err[0] = '\0';
		ck_assert_msg(forward_results_open(&rd, b.data, n, 3, err, sizeof err) ==
				      ERR_CORRUPT,
			      "results cut to %zu bytes were accepted", n);
		ck_assert_msg(err[0] != '\0', "no reason for results cut to %zu bytes", n);
	}
	buf_release(&b);
}
END_TEST

START_TEST(test_forward_results_bad_counts_and_lengths_are_errors)
{
	struct agent_result rs[3];
	struct forward_reader rd;
	struct buf b;
	char err[160];
	size_t leader_len_at;

	three_results(&b, rs);
	/* Not one result per command. */
	ck_assert_int_eq(forward_results_open(&rd, b.data, b.len, 2, err, sizeof err), ERR_CORRUPT);
	ck_assert_int_eq(forward_results_open(&rd, b.data, b.len, 4, err, sizeof err), ERR_CORRUPT);
	/* Bytes after the last. */
	ck_assert_int_eq(buf_append(&b, "x", 1), 0);
	ck_assert_int_eq(forward_results_open(&rd, b.data, b.len, 3, err, sizeof err), ERR_CORRUPT);
	ck_assert_msg(strstr(err, "follow the last") != NULL, "%s", err);
	b.len--;
	/* The first message's length, past the end. */
	put32(b.data + 4 + 20, 100000);
	ck_assert_int_eq(forward_results_open(&rd, b.data, b.len, 3, err, sizeof err), ERR_CORRUPT);
	ck_assert_msg(strstr(err, "result 1: message") != NULL, "%s", err);
	put32(b.data + 4 + 20, 0);
	/* The first result's length, past the end. */
	put32(b.data + 4 + 24, UINT32_MAX);
	ck_assert_int_eq(forward_results_open(&rd, b.data, b.len, 3, err, sizeof err), ERR_CORRUPT);
	put32(b.data + 4 + 24, 4);
	ck_assert_int_eq(forward_results_open(&rd, b.data, b.len, 3, err, sizeof err), 0);
	/* The last leader without its NUL: the reader hands out C strings. */
	leader_len_at = b.len - strlen(rs[2].leader_http) - 1 - 2;
	b.data[b.len - 1] = 'x';
	ck_assert_int_eq(forward_results_open(&rd, b.data, b.len, 3, err, sizeof err), ERR_CORRUPT);
	ck_assert_msg(strstr(err, "result 3: the leader") != NULL, "%s", err);
	b.data[b.len - 1] = '\0';
	b.data[leader_len_at + 1]++;
	ck_assert_int_eq(forward_results_open(&rd, b.data, b.len, 3, err, sizeof err), ERR_CORRUPT);
	buf_release(&b);
}
END_TEST

Suite *forward_suite(void)
{
	Suite *s = suite_create("forward");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, test_forward_cmds_round_trip);
	tcase_add_test(tc, test_forward_cmds_every_truncation_is_an_error);
	tcase_add_test(tc, test_forward_cmds_bad_counts_and_lengths_are_errors);
	tcase_add_test(tc, test_forward_results_round_trip);
	tcase_add_test(tc, test_forward_results_every_truncation_is_an_error);
	tcase_add_test(tc, test_forward_results_bad_counts_and_lengths_are_errors);
	suite_add_tcase(s, tc);
	return s;
}
