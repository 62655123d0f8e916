/*
 * The apply loop (statestore/apply.h) end to end over real LMDB stores: random
 * sequences of valid and invalid commands, encoded as real log entries, give
 * the same digest on every replica at every index; a replica restored from a
 * snapshot midway ends in the same state; malformed entries and commands are
 * rejected results that change nothing else; a rewind brings the digest back
 * to the one recorded at its target.
 */
#include "config.h"

#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/error.h"
#include "common/pack.h"
#include "services/command.h"
#include "statestore/apply.h"
#include "tests/unit/statestore/suites.h"

#define N_REPLICAS 3

struct replica {
	char dir[64];
	struct store store;
	struct applier applier;
	struct sm sm;
	struct buf effects; /* every effect delivered, in order */
};

static void on_effect(void *arg, uint64_t index, const struct effect *e)
{
	struct replica *r = arg;

	ck_assert_int_eq(buf_put_u64be(&r->effects, index), 0);
	ck_assert_int_eq(buf_append(&r->effects, e, sizeof *e), 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void replica_open_with(struct replica *r, const struct store_options *opts)
{
	snprintf(r->dir, sizeof r->dir, "/tmp/logos-apply-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(r->dir));
	ck_assert_msg(store_open(&r->store, r->dir, opts) == 0, "%s", r->store.errmsg);
	buf_init(&r->effects);
	applier_init(&r->applier, &r->store, &r->sm, on_effect, r);
}

static void replica_open(struct replica *r)
{
	replica_open_with(r, NULL);
}

static void replica_close(struct replica *r)
{
	applier_close(&r->applier);
	store_close(&r->store);
	buf_release(&r->effects);
	nftw(r->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A small deterministic generator (xorshift64*), seeded per test. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return n == 0 ? 0 : rng_next(s) % n;
}

static const char *const names[] = {"h1", "h2", "h3", "h4"};
static const char *const queues[] = {"jobs", "mail", "q.3"};
static const char *const paths[] = {"/etc/app.conf", "/etc/app", "/a/b/c", "/x"};

static struct strref str(const char *s)
{
	struct strref r = {s, strlen(s)};

	return r;
}

/* Fills `c` with a random command whose fields are within the limits; some
 * refer to things that do not exist, to be rejected by their service. */
static void random_cmd(uint64_t *rng, uint64_t index, struct cmd *c, struct buf *argv)
{
	static const char *const args[] = {"/bin/echo", "hello", "world", NULL};
	struct packer pk;

	memset(c, 0, sizeof *c);
	c->version = CMD_VERSION;
	c->time_ms = 1700000000000ULL + index * 10;
	c->origin = 1 + rng_below(rng, 4);
	c->term = 1 + index / 50;
	c->request_id = index * 16 + rng_below(rng, 16);
	c->principal = str("root");
	if (rng_below(rng, 8) == 0)
		c->key = str(rng_below(rng, 2) ? "k1" : "k2");
	switch (rng_below(rng, 16)) {
	case 0:
		c->type = CMD_NODE_JOIN;
		c->u.join.name = str(names[rng_below(rng, 4)]);
		c->u.join.raft_addr = str("127.0.0.1:7701");
		c->u.join.http_addr = str("127.0.0.1:7700");
		break;
	case 1:
	case 2:
		c->type = CMD_PROC_SUBMIT;
		argv->len = 0;
		packer_init(&pk, argv);
		pack_array(&pk, 3);
		for (int i = 0; args[i] != NULL; i++)
			pack_cstr(&pk, args[i]);
		c->u.submit.argv.p = argv->data;
		c->u.submit.argv.n = argv->len;
		c->u.submit.argv.count = 3;
		c->u.submit.env.p = (const uint8_t *)"\x80";
		c->u.submit.env.n = 1;
		c->u.submit.placement = (int)rng_below(rng, 3);
		if (c->u.submit.placement == PLACE_NODE)
			c->u.submit.node = str(names[rng_below(rng, 4)]);
		c->u.submit.restart = (int)rng_below(rng, 3);
		c->u.submit.max_restarts = (uint32_t)rng_below(rng, 3);
		break;
	case 3:
		c->type = CMD_PROC_STARTED;
		c->u.started.pid = 1 + rng_below(rng, 12);
		c->u.started.attempt = 1 + (uint32_t)rng_below(rng, 3);
		c->u.started.os_pid = 1000 + rng_below(rng, 1000);
		break;
	case 4:
		c->type = CMD_PROC_OUTPUT;
		c->u.output.pid = 1 + rng_below(rng, 12);
		c->u.output.attempt = 1 + (uint32_t)rng_below(rng, 2);
		c->u.output.stream = 1 + (int)rng_below(rng, 2);
		c->u.output.seq = rng_below(rng, 4);
		c->u.output.data.p = (const uint8_t *)"some output\n";
		c->u.output.data.n = 12;
		break;
	case 5:
		c->type = CMD_PROC_EXITED;
		c->u.exited.pid = 1 + rng_below(rng, 12);
		c->u.exited.attempt = 1 + (uint32_t)rng_below(rng, 3);
		if (rng_below(rng, 3) == 0) {
			c->u.exited.exit_code = -1;
			c->u.exited.signal = 9;
		} else {
			c->u.exited.exit_code = (int32_t)rng_below(rng, 3);
		}
		break;
	case 6:
		c->type = CMD_PROC_KILL;
		c->u.kill.pid = 1 + rng_below(rng, 12);
		c->u.kill.signal = 15;
		break;
	case 7:
		c->type = CMD_PROC_LOST;
		c->u.lost.pid = 1 + rng_below(rng, 12);
		c->u.lost.attempt = 1 + (uint32_t)rng_below(rng, 3);
		c->u.lost.reason = str("host down");
		break;
	case 8:
		c->type = CMD_MSG_SEND;
		c->u.send.queue = str(queues[rng_below(rng, 3)]);
		c->u.send.data.p = (const uint8_t *)"{\"n\":1}";
		c->u.send.data.n = 7;
		break;
	case 9:
		c->type = CMD_MSG_RECV;
		c->u.recv.queue = str(queues[rng_below(rng, 3)]);
		break;
	case 10:
	case 11:
		c->type = CMD_FILE_PUT;
		c->u.put.path = str(paths[rng_below(rng, 4)]);
		c->u.put.data.p = (const uint8_t *)"content";
		c->u.put.data.n = 1 + rng_below(rng, 7);
		c->u.put.if_version = (int64_t)rng_below(rng, 4) - 1;
		break;
	case 12:
		c->type = CMD_FILE_DEL;
		c->u.del.path = str(paths[rng_below(rng, 4)]);
		c->u.del.if_version = -1;
		break;
	case 13:
		c->type = CMD_STEP_RECORD;
		c->u.step.pid = 1 + rng_below(rng, 12);
		c->u.step.attempt = 1;
		c->u.step.name = str(rng_below(rng, 2) ? "fetch" : "build");
		c->u.step.exit_code = (int32_t)rng_below(rng, 2);
		break;
	case 14:
		c->type = CMD_NODE_DOWN + (uint32_t)rng_below(rng, 2); /* down or up */
		c->u.node.node = 1 + rng_below(rng, 5);
		break;
	default:
		c->type = rng_below(rng, 4) == 0 ? CMD_COMPACT : CMD_REWIND;
		/* Sometimes out of range, to be rejected. */
		c->u.history.target = rng_below(rng, index + 2);
		break;
	}
}

/* Builds the entry of `index` into `out`: a batch of random commands, with now
 * and then a command of random bytes or a truncated one. */
static void random_entry(uint64_t *rng, uint64_t index, struct buf *out)
{
	struct entry_builder b;
	struct buf one, argv;
	struct cmd c;
	uint32_t i, n = 1 + (uint32_t)rng_below(rng, 4);

	buf_init(&one);
	buf_init(&argv);
	out->len = 0;
	ck_assert_int_eq(entry_begin(&b, out), 0);
	for (i = 0; i < n; i++) {
		one.len = 0;
		random_cmd(rng, index, &c, &argv);
		ck_assert_msg(cmd_encode(&c, &one) == 0, "encode type %u", c.type);
		switch (rng_below(rng, 20)) {
		case 0: /* garbage */
			for (size_t j = 0; j < one.len; j++)
				one.data[j] = (uint8_t)rng_next(rng);
			break;
		case 1: /* truncated */
			one.len = rng_below(rng, one.len);
			break;
		default:
			break;
		}
		ck_assert_int_eq(entry_add(&b, one.data, one.len), 0);
	}
	ck_assert_int_eq(entry_finish(&b), 0);
	buf_release(&one);
	buf_release(&argv);
}

static void check_same(struct replica *r, int n, uint64_t index, uint64_t seed)
{
	char a[33], b[33];

	for (int i = 1; i < n; i++) {
		ck_assert_uint_eq(store_applied_index(&r[i].store), index);
		digest_hex(store_digest(&r[0].store), a);
		digest_hex(store_digest(&r[i].store), b);
		ck_assert_msg(strcmp(a, b) == 0, "seed %llu index %llu: replica %d digest %s != %s",
			      (unsigned long long)seed, (unsigned long long)index, i, b, a);
	}
}

START_TEST(test_apply_replicas_agree)
{
	struct replica r[N_REPLICAS];
	uint64_t seed = 0x9e3779b97f4a7c15ULL + (uint64_t)_i, rng = seed;
	struct buf entry, snap;
	uint64_t index;
	const uint64_t n = 600;
	int i;

	buf_init(&entry);
	buf_init(&snap);
	for (i = 0; i < N_REPLICAS; i++)
		replica_open(&r[i]);
	for (index = 1; index <= n; index++) {
		random_entry(&rng, index, &entry);
		/* The last replica is down for the middle third, then is
		 * restored from a snapshot of the first. */
		for (i = 0; i < N_REPLICAS; i++) {
			if (i == N_REPLICAS - 1 && index > n / 3 && index <= 2 * n / 3)
				continue;
			ck_assert_msg(r[i].sm.apply(&r[i].sm, index, entry.data, entry.len) == 0,
				      "seed %llu index %llu: %s", (unsigned long long)seed,
				      (unsigned long long)index, r[i].sm.errmsg(&r[i].sm));
		}
		if (index == 2 * n / 3) {
			snap.len = 0;
			ck_assert_int_eq(r[0].sm.snapshot(&r[0].sm, &snap), 0);
			ck_assert_msg(r[N_REPLICAS - 1].sm.restore(&r[N_REPLICAS - 1].sm, snap.data,
								   snap.len) == 0,
				      "%s", r[N_REPLICAS - 1].store.errmsg);
		}
		if (index <= n / 3 || index >= 2 * n / 3)
			check_same(r, N_REPLICAS, index, seed);
		else
			check_same(r, N_REPLICAS - 1, index, seed);
		/* Replaying an applied entry changes nothing. */
		ck_assert_int_eq(r[0].sm.apply(&r[0].sm, index, entry.data, entry.len), 0);
	}
	/* Replicas that applied every entry delivered the same effects. */
	ck_assert_uint_eq(r[0].effects.len, r[1].effects.len);
	ck_assert_int_eq(memcmp(r[0].effects.data, r[1].effects.data, r[0].effects.len), 0);
	ck_assert_uint_gt(r[0].applier.commands, n);
	ck_assert_uint_gt(r[0].applier.rejected, 0);
	ck_assert_uint_lt(r[0].applier.rejected, r[0].applier.commands);

	/* The digest as of every readable index agrees too. */
	{
		struct store_txn t[N_REPLICAS];
		struct hash128 d0, di;
		for (i = 0; i < N_REPLICAS; i++)
			ck_assert_int_eq(store_read(&r[i].store, &t[i]), 0);
		for (index = store_oldest_index(&r[0].store); index <= n; index++) {
			ck_assert_int_eq(store_digest_at(&t[0], index, &d0), 0);
			for (i = 1; i < N_REPLICAS; i++) {
				if (index < store_oldest_index(&r[i].store))
					continue;
				ck_assert_int_eq(store_digest_at(&t[i], index, &di), 0);
				ck_assert_msg(digest_equal(d0, di), "seed %llu: as-of index %llu",
					      (unsigned long long)seed, (unsigned long long)index);
			}
		}
		for (i = 0; i < N_REPLICAS; i++)
			store_read_end(&t[i]);
	}
	for (i = 0; i < N_REPLICAS; i++)
		replica_close(&r[i]);
	buf_release(&entry);
	buf_release(&snap);
}
END_TEST

/* Applies one entry holding one encoded command; returns the result code. */
static int64_t apply_one(struct replica *r, uint64_t index, const struct cmd *c)
{
	struct entry_builder b;
	struct buf one, entry;
	struct store_txn t;
	struct result_row res;
	int64_t code;

	buf_init(&one);
	buf_init(&entry);
	ck_assert_int_eq(cmd_encode(c, &one), 0);
	ck_assert_int_eq(entry_begin(&b, &entry), 0);
	ck_assert_int_eq(entry_add(&b, one.data, one.len), 0);
	ck_assert_int_eq(entry_finish(&b), 0);
	ck_assert_int_eq(r->sm.apply(&r->sm, index, entry.data, entry.len), 0);
	ck_assert_int_eq(store_read(&r->store, &t), 0);
	ck_assert_int_eq(applier_result(&t, index, 0, &res), 0);
	code = res.code;
	store_read_end(&t);
	buf_release(&one);
	buf_release(&entry);
	return code;
}

START_TEST(test_apply_rewind_restores_digest)
{
	struct replica r;
	struct cmd c;
	struct hash128 at5;
	struct store_txn t;
	uint64_t index = 0;
	char name[16];

	replica_open(&r);
	memset(&c, 0, sizeof c);
	c.version = CMD_VERSION;
	c.origin = 1;
	c.principal = str("root");
	for (int i = 0; i < 5; i++) {
		c.type = CMD_FILE_PUT;
		snprintf(name, sizeof name, "/f%d", i % 3);
		c.u.put.path = str(name);
		c.u.put.data.p = (const uint8_t *)name;
		c.u.put.data.n = strlen(name);
		c.u.put.if_version = -1;
		ck_assert_int_eq(apply_one(&r, ++index, &c), 0);
	}
	at5 = store_digest(&r.store);
	for (int i = 0; i < 7; i++) {
		memset(&c.u, 0, sizeof c.u);
		c.type = i % 2 ? CMD_MSG_SEND : CMD_FILE_DEL;
		if (i % 2) {
			c.u.send.queue = str("jobs");
			c.u.send.data.p = (const uint8_t *)"x";
			c.u.send.data.n = 1;
		} else {
			snprintf(name, sizeof name, "/f%d", i % 3);
			c.u.del.path = str(name);
			c.u.del.if_version = -1;
		}
		apply_one(&r, ++index, &c);
	}
	ck_assert(!digest_equal(store_digest(&r.store), at5));
	memset(&c.u, 0, sizeof c.u);
	c.type = CMD_REWIND;
	c.u.history.target = 5;
	ck_assert_int_eq(apply_one(&r, ++index, &c), 0);
	ck_assert(digest_equal(store_digest(&r.store), at5));

	/* Out of range: rejected with ERR_RANGE, nothing changes. */
	c.u.history.target = index + 5;
	ck_assert_int_eq(apply_one(&r, ++index, &c), ERR_RANGE);
	ck_assert(digest_equal(store_digest(&r.store), at5));

	/* The audit log has one record per command, with its type. */
	ck_assert_int_eq(store_read(&r.store, &t), 0);
	{
		struct store_iter it;
		const void *k, *v;
		size_t kl, vl;
		struct log_row row;
		uint64_t count = 0;
		ck_assert_int_eq(store_iter_init(&it, &t, STORE_LOG, NULL, 0, STORE_AT_LATEST), 0);
		while (store_iter_next(&it, &k, &kl, &v, &vl) == 0) {
			ck_assert_int_eq(applier_log_decode(k, kl, v, vl, &row), 0);
			ck_assert_uint_eq(row.index, ++count);
			ck_assert_uint_ne(row.type, 0);
			ck_assert_uint_gt(row.summary_len, 0);
		}
		store_iter_close(&it);
		ck_assert_uint_eq(count, index);
	}
	store_read_end(&t);
	replica_close(&r);
}
END_TEST

START_TEST(test_apply_malformed_entries_are_rejected_results)
{
	struct replica r;
	struct cmd c;
	struct buf one, entry;
	struct entry_builder b;
	struct store_txn t;
	struct result_row res;
	struct hash128 before;
	uint64_t index = 1, rng = 42;

	replica_open(&r);
	buf_init(&one);
	buf_init(&entry);
	memset(&c, 0, sizeof c);
	c.version = CMD_VERSION;
	c.type = CMD_FILE_PUT;
	c.origin = 1;
	c.u.put.path = str("/etc/app.conf");
	c.u.put.data.p = (const uint8_t *)"v1";
	c.u.put.data.n = 2;
	c.u.put.if_version = -1;
	ck_assert_int_eq(cmd_encode(&c, &one), 0);
	ck_assert_int_eq(entry_begin(&b, &entry), 0);
	ck_assert_int_eq(entry_add(&b, one.data, one.len), 0);
	ck_assert_int_eq(entry_finish(&b), 0);
	ck_assert_int_eq(r.sm.apply(&r.sm, index, entry.data, entry.len), 0);
	before = store_digest(&r.store);

	/* Every truncation of a valid entry, and random bytes: applied as a
	 * rejection, state unchanged, the index advances. */
	for (size_t cut = 0; cut < entry.len; cut++) {
		ck_assert_int_eq(r.sm.apply(&r.sm, ++index, entry.data, cut), 0);
		ck_assert(digest_equal(store_digest(&r.store), before));
	}
	for (int i = 0; i < 200; i++) {
		uint8_t junk[64];
		size_t n = 1 + rng_below(&rng, sizeof junk);
		for (size_t j = 0; j < n; j++)
			junk[j] = (uint8_t)rng_next(&rng);
		ck_assert_int_eq(r.sm.apply(&r.sm, ++index, junk, n), 0);
		ck_assert(digest_equal(store_digest(&r.store), before));
	}
	ck_assert_uint_eq(store_applied_index(&r.store), index);
	ck_assert_int_eq(store_read(&r.store, &t), 0);
	ck_assert_int_eq(applier_result(&t, index, 0, &res), 0);
	ck_assert_int_ne(res.code, 0);
	ck_assert_uint_gt(res.message_len, 0);
	ck_assert_int_eq(applier_result(&t, 1, 0, &res), 0);
	ck_assert_int_eq(res.code, 0);
	store_read_end(&t);
	buf_release(&one);
	buf_release(&entry);
	replica_close(&r);
}
END_TEST

/* Asserts that two stores hold the same rows in `table` (bytes equal). */
static void assert_same_rows(struct replica *a, struct replica *b, int table)
{
	struct store_txn ta, tb;
	struct store_iter ia, ib;
	const void *ka, *va, *kb, *vb;
	size_t kla, vla, klb, vlb;
	int ra, rb;
	uint64_t n = 0;

	ck_assert_int_eq(store_read(&a->store, &ta), 0);
	ck_assert_int_eq(store_read(&b->store, &tb), 0);
	ck_assert_int_eq(store_iter_init(&ia, &ta, table, NULL, 0, STORE_AT_LATEST), 0);
	ck_assert_int_eq(store_iter_init(&ib, &tb, table, NULL, 0, STORE_AT_LATEST), 0);
	for (;;) {
		ra = store_iter_next(&ia, &ka, &kla, &va, &vla);
		rb = store_iter_next(&ib, &kb, &klb, &vb, &vlb);
		ck_assert_int_eq(ra, rb);
		if (ra != 0)
			break;
		ck_assert_uint_eq(kla, klb);
		ck_assert_uint_eq(vla, vlb);
		ck_assert_int_eq(memcmp(ka, kb, kla), 0);
		ck_assert_msg(vla == 0 || memcmp(va, vb, vla) == 0, "table %d row %llu differs",
			      table, (unsigned long long)n);
		n++;
	}
	ck_assert_int_eq(ra, ERR_NOTFOUND);
	ck_assert_uint_gt(n, 0);
	store_iter_close(&ia);
	store_iter_close(&ib);
	store_read_end(&ta);
	store_read_end(&tb);
}

/* Asserts equal digests as of every index in [from, to]. */
static void assert_same_digests(struct replica *a, struct replica *b, uint64_t from, uint64_t to)
{
	struct store_txn ta, tb;
	struct hash128 da, db;
	uint64_t i;

	ck_assert_int_eq(store_read(&a->store, &ta), 0);
	ck_assert_int_eq(store_read(&b->store, &tb), 0);
	ck_assert_uint_eq(ta.oldest, tb.oldest);
	if (from < ta.oldest)
		from = ta.oldest;
	for (i = from; i <= to; i++) {
		ck_assert_int_eq(store_digest_at(&ta, i, &da), 0);
		ck_assert_int_eq(store_digest_at(&tb, i, &db), 0);
		ck_assert_msg(digest_equal(da, db), "digest as of index %llu differs",
			      (unsigned long long)i);
	}
	store_read_end(&ta);
	store_read_end(&tb);
}

/*
 * Group commit: entries applied in groups of random sizes (apply_deferred,
 * then flush) give exactly what applying them one by one gives: the same
 * digest at every index, the same results and audit log, the same effects,
 * in one LMDB commit per group. Until its flush a group is invisible. With
 * _i odd, the grouped replica starts with a tiny map, so that it fills up in
 * the middle of groups and every entry of the group is run again.
 */
START_TEST(test_apply_groups_equal_one_by_one)
{
	static const struct store_options tiny = {.map_size = 64 << 10,
						  .map_size_max = (size_t)1 << 30};
	struct replica one, grp;
	uint64_t seed = 0x51ed2701ULL + (uint64_t)_i, rng = seed;
	struct buf entry;
	struct hash128 committed;
	uint64_t index = 0, groups = 0, commits;
	const uint64_t n = 800;
	unsigned k, size;

	buf_init(&entry);
	replica_open(&one);
	if (_i % 2)
		replica_open_with(&grp, &tiny);
	else
		replica_open(&grp);
	commits = grp.store.commits;
	while (index < n) {
		size = 1 + (unsigned)rng_below(&rng, _i % 2 ? 200 : 60);
		committed = store_digest(&grp.store);
		for (k = 0; k < size && index < n; k++) {
			random_entry(&rng, ++index, &entry);
			ck_assert_msg(one.sm.apply(&one.sm, index, entry.data, entry.len) == 0,
				      "seed %llu index %llu: %s", (unsigned long long)seed,
				      (unsigned long long)index, one.sm.errmsg(&one.sm));
			ck_assert_msg(
				grp.sm.apply_deferred(&grp.sm, index, entry.data, entry.len) == 0,
				"seed %llu index %llu: %s", (unsigned long long)seed,
				(unsigned long long)index, grp.sm.errmsg(&grp.sm));
			/* Scribbled over: the group kept its own copy. */
			memset(entry.data, 0xa5, entry.len);
			/* Replaying an entry of the open group changes nothing. */
			ck_assert_int_eq(grp.sm.apply_deferred(&grp.sm, index, "x", 1), 0);
		}
		/* Nothing of the open group is visible yet. */
		ck_assert_uint_eq(grp.sm.applied_index(&grp.sm), index - k);
		ck_assert(digest_equal(store_digest(&grp.store), committed));
		ck_assert_uint_lt(grp.effects.len, one.effects.len + 1);
		ck_assert_int_eq(grp.sm.flush(&grp.sm), 0);
		groups++;
		ck_assert_uint_eq(grp.sm.applied_index(&grp.sm), index);
		ck_assert(digest_equal(store_digest(&grp.store), store_digest(&one.store)));
		ck_assert_uint_eq(grp.effects.len, one.effects.len);
	}
	ck_assert_int_eq(grp.sm.flush(&grp.sm), 0); /* nothing open: no commit */
	ck_assert_uint_eq(grp.store.commits - commits, groups);
	ck_assert_uint_lt(groups, n / 10);
	if (_i % 2)
		ck_assert_uint_gt(grp.store.grows, 0);
	assert_same_digests(&one, &grp, 1, n);
	assert_same_rows(&one, &grp, STORE_RESULTS);
	assert_same_rows(&one, &grp, STORE_LOG);
	for (int t = 0; t < STORE_N_VERSIONED; t++)
		if (t != STORE_QUEUES && t != STORE_STEPS && t != STORE_IDEM)
			assert_same_rows(&one, &grp, t);
	ck_assert_int_eq(memcmp(one.effects.data, grp.effects.data, one.effects.len), 0);
	ck_assert_uint_eq(one.applier.commands, grp.applier.commands);
	ck_assert_uint_eq(one.applier.rejected, grp.applier.rejected);
	replica_close(&one);
	replica_close(&grp);
	buf_release(&entry);
}
END_TEST

/*
 * A store closed with a group open (the process died before the flush)
 * reopens at the last committed index, with the digest recorded for it and
 * its state; applying the lost entries again gives the same state as before.
 * A snapshot commits the open group first.
 */
START_TEST(test_apply_group_lost_at_crash_is_replayed)
{
	struct replica a, b;
	uint64_t rng = 77, index;
	struct buf entries[40], snap;
	struct hash128 at20, at40;
	struct store_txn t;
	struct hash128 d;

	replica_open(&a);
	replica_open(&b);
	buf_init(&snap);
	for (index = 1; index <= 40; index++) {
		buf_init(&entries[index - 1]);
		random_entry(&rng, index, &entries[index - 1]);
	}
	for (index = 1; index <= 20; index++)
		ck_assert_int_eq(a.sm.apply_deferred(&a.sm, index, entries[index - 1].data,
						     entries[index - 1].len),
				 0);
	ck_assert_int_eq(a.sm.flush(&a.sm), 0);
	at20 = store_digest(&a.store);
	for (; index <= 40; index++)
		ck_assert_int_eq(a.sm.apply_deferred(&a.sm, index, entries[index - 1].data,
						     entries[index - 1].len),
				 0);
	ck_assert_uint_eq(store_applied_index(&a.store), 20);
	/* Readers see the committed state only. */
	ck_assert_int_eq(store_read(&a.store, &t), 0);
	ck_assert_uint_eq(t.index, 20);
	ck_assert(digest_equal(t.digest, at20));
	store_read_end(&t);

	/* Crash: close without a flush. */
	applier_close(&a.applier);
	store_close(&a.store);
	ck_assert_int_eq(store_open(&a.store, a.dir, NULL), 0);
	applier_init(&a.applier, &a.store, &a.sm, on_effect, &a);
	ck_assert_uint_eq(store_applied_index(&a.store), 20);
	ck_assert(digest_equal(store_digest(&a.store), at20));
	ck_assert_int_eq(store_read(&a.store, &t), 0);
	ck_assert_int_eq(store_digest_at(&t, 20, &d), 0);
	ck_assert(digest_equal(d, at20));
	ck_assert_int_eq(store_digest_at(&t, 21, &d), ERR_RANGE);
	store_read_end(&t);

	/* Raft replays from its log: everything, of which 1..20 is skipped. */
	for (index = 1; index <= 40; index++)
		ck_assert_int_eq(a.sm.apply_deferred(&a.sm, index, entries[index - 1].data,
						     entries[index - 1].len),
				 0);
	ck_assert_int_eq(a.sm.snapshot(&a.sm, &snap), 0); /* flushes first */
	ck_assert_uint_eq(store_applied_index(&a.store), 40);
	at40 = store_digest(&a.store);
	for (index = 1; index <= 40; index++)
		ck_assert_int_eq(
			b.sm.apply(&b.sm, index, entries[index - 1].data, entries[index - 1].len),
			0);
	ck_assert(digest_equal(store_digest(&b.store), at40));
	assert_same_digests(&a, &b, 1, 40);
	assert_same_rows(&a, &b, STORE_RESULTS);
	assert_same_rows(&a, &b, STORE_LOG);
	for (index = 0; index < 40; index++)
		buf_release(&entries[index]);
	buf_release(&snap);
	replica_close(&a);
	replica_close(&b);
}
END_TEST

Suite *apply_suite(void)
{
	Suite *s = suite_create("apply");
	TCase *tc = tcase_create("apply");

	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_apply_replicas_agree, 0, 4);
	tcase_add_test(tc, test_apply_rewind_restores_digest);
	tcase_add_test(tc, test_apply_malformed_entries_are_rejected_results);
	tcase_add_loop_test(tc, test_apply_groups_equal_one_by_one, 0, 4);
	tcase_add_test(tc, test_apply_group_lost_at_crash_is_replayed);
	suite_add_tcase(s, tc);
	return s;
}
