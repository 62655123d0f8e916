/*
 * The invariants of the simulation (research/reliability.md I1, I3, I4 and the
 * rewind rule of DESIGN §4.2), checked as the run goes and at its end:
 *
 *   I4  at most one leader per term: checked by the fixture hook after every
 *       step (libraft's own check is an assert, off in Debian's build, R4);
 *   I3  replica agreement: the digest after each index is the same on every
 *       server that applies it (compared as it is applied or installed by a
 *       snapshot), and at the end at every index two stores both hold, with
 *       the same command results;
 *   rewind: after an applied rewind(N) at R (without an idempotency key),
 *       the digest at R is the digest at N, on every server that applies it;
 *   I1  no acknowledged command is missing: every raft_apply that reported
 *       success is at its index on every server with the result the leader
 *       reported, each accepted file put reads back as of its index, and the
 *       final files of every server are those of a model that folds the
 *       accepted puts, deletes and rewinds of the final log.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <raft.h>
#include <raft/fixture.h>

#include "common/error.h"
#include "services/command.h"
#include "services/files.h"
#include "statestore/apply.h"
#include "statestore/store.h"
#include "tests/sim/sim.h"

static struct sim *sim_of(struct raft_fixture *f)
{
	return (struct sim *)((char *)f - offsetof(struct sim, f));
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t old = *cap, n = old ? old : 64;

	if (need <= old)
		return p;
	while (n < need)
		n *= 2;
	p = realloc(p, n * size);
	ck_assert_ptr_nonnull(p);
	memset((char *)p + old * size, 0, (n - old) * size);
	*cap = n;
	return p;
}

void sim_hook(struct raft_fixture *f, struct raft_fixture_event *event)
{
	struct sim *sim = sim_of(f);
	unsigned i;

	sim_trace(sim, (uint64_t)raft_fixture_event_type(event) << 8 |
			       raft_fixture_event_server_index(event));
	sim_settle_disks(sim);
	if (sim->opts.membership)
		sim_retire_removed(sim);
	sim_restart_crashed(sim);
	for (i = 0; i < sim->n; i++) {
		struct raft *r = raft_fixture_get(f, i);
		raft_term term = r->current_term;

		if (raft_state(r) != RAFT_LEADER)
			continue;
		sim->leaders =
			grow(sim->leaders, &sim->cap_leaders, term + 1, sizeof *sim->leaders);
		if (sim->leaders[term] == 0)
			sim->leaders[term] = r->id;
		SIM_ASSERT(sim, sim->leaders[term] == r->id,
			   "two leaders in term %llu: servers %llu and %llu (I4)",
			   (unsigned long long)term, (unsigned long long)sim->leaders[term],
			   (unsigned long long)r->id);
	}
}

/* I3 as it happens: `d` is server s's digest after `index`. */
static void agree(struct sim *sim, struct sim_server *s, uint64_t index, struct hash128 d)
{
	char a[33], b[33];

	sim_trace(sim, index);
	sim_trace(sim, d.lo);
	if (getenv("LOGOS_SIM_TRACE"))
		fprintf(stderr, "[%llu] AGREE server %u index %llu digest %016llx\n",
			(unsigned long long)raft_fixture_time(&sim->f), s->i,
			(unsigned long long)index, (unsigned long long)d.lo);
	if (index + 1 > sim->cap_digests) {
		size_t cap = sim->cap_digests;

		sim->digests = grow(sim->digests, &cap, index + 1, sizeof *sim->digests);
		sim->have_digest = grow(sim->have_digest, &sim->cap_digests, index + 1,
					sizeof *sim->have_digest);
	}
	if (!sim->have_digest[index]) {
		sim->digests[index] = d;
		sim->have_digest[index] = true;
		return;
	}
	sim->stats.digests_compared++;
	if (digest_equal(sim->digests[index], d))
		return;
	digest_hex(sim->digests[index], a);
	digest_hex(d, b);
	SIM_ASSERT(sim, false,
		   "server %u digest after index %llu is %s, another server had %s (I3)", s->i,
		   (unsigned long long)index, b, a);
}

/* The rewind rule, if the entry is one rewind without a key. */
static void check_rewind(struct sim *sim, struct sim_server *s, uint64_t index, const void *buf,
			 size_t len)
{
	struct entry_reader er;
	struct store_txn t;
	struct result_row row;
	struct hash128 at_r, at_n;
	const void *one;
	size_t one_len;
	struct cmd c;
	char err[128];

	if (entry_open(&er, buf, len, err, sizeof err) != 0 || entry_count(&er) != 1 ||
	    entry_next(&er, &one, &one_len) != 0 ||
	    cmd_decode(one, one_len, &c, err, sizeof err) != 0 || c.type != CMD_REWIND ||
	    c.key.p != NULL)
		return;
	ck_assert_int_eq(store_read(&s->store, &t), 0);
	ck_assert_int_eq(applier_result(&t, index, 0, &row), 0);
	if (row.code == 0) {
		ck_assert_int_eq(store_digest_at(&t, index, &at_r), 0);
		SIM_ASSERT(sim, store_digest_at(&t, c.u.history.target, &at_n) == 0,
			   "server %u: rewind at %llu to %llu applied, target unreadable", s->i,
			   (unsigned long long)index, (unsigned long long)c.u.history.target);
		SIM_ASSERT(sim, digest_equal(at_r, at_n),
			   "server %u: digest after rewind at %llu differs from target %llu", s->i,
			   (unsigned long long)index, (unsigned long long)c.u.history.target);
		sim->stats.rewinds_checked++;
	}
	store_read_end(&t);
}

void sim_after_apply(struct sim *sim, struct sim_server *s, uint64_t index, const void *buf,
		     size_t len)
{
	agree(sim, s, index, store_digest(&s->store));
	check_rewind(sim, s, index, buf, len);
}

void sim_after_replay(struct sim *sim, struct sim_server *s, uint64_t index, const void *buf,
		      size_t len)
{
	struct entry_reader er;
	struct store_txn t;
	struct result_row row;
	const void *one;
	size_t one_len;
	struct cmd c;
	char err[128];
	uint32_t k = 0;

	SIM_ASSERT(sim, entry_open(&er, buf, len, err, sizeof err) == 0,
		   "server %u: replayed entry %llu: %s", s->i, (unsigned long long)index, err);
	ck_assert_int_eq(store_read(&s->store, &t), 0);
	while (entry_next(&er, &one, &one_len) == 0) {
		SIM_ASSERT(sim, cmd_decode(one, one_len, &c, err, sizeof err) == 0,
			   "server %u: replayed entry %llu: %s", s->i, (unsigned long long)index,
			   err);
		SIM_ASSERT(sim,
			   applier_result(&t, index, k, &row) == 0 &&
				   row.request_id == c.request_id,
			   "server %u: entry %llu replayed after a restart is not the one its "
			   "store applied (command %u)",
			   s->i, (unsigned long long)index, k);
		k++;
	}
	store_read_end(&t);
}

void sim_after_restore(struct sim *sim, struct sim_server *s)
{
	agree(sim, s, store_applied_index(&s->store), store_digest(&s->store));
}

/* Every index both stores hold: the same digest and the same results. */
static void check_pair(struct sim *sim, struct sim_server *a, struct sim_server *b)
{
	struct store_txn ta, tb;
	struct hash128 da, db;
	struct result_row ra, rb;
	uint64_t lo, hi, index;
	uint32_t pos;
	int rva, rvb;

	ck_assert_int_eq(store_read(&a->store, &ta), 0);
	ck_assert_int_eq(store_read(&b->store, &tb), 0);
	lo = store_oldest_index(&a->store);
	if (store_oldest_index(&b->store) > lo)
		lo = store_oldest_index(&b->store);
	hi = store_applied_index(&a->store);
	if (store_applied_index(&b->store) < hi)
		hi = store_applied_index(&b->store);
	for (index = lo > 0 ? lo : 1; index <= hi; index++) {
		ck_assert_int_eq(store_digest_at(&ta, index, &da), 0);
		ck_assert_int_eq(store_digest_at(&tb, index, &db), 0);
		SIM_ASSERT(sim, digest_equal(da, db),
			   "servers %u and %u differ as of index %llu (I3)", a->i, b->i,
			   (unsigned long long)index);
		sim->stats.digests_compared++;
	}
	/* Results are bookkeeping, never compacted: compare them all. */
	for (index = 1; index <= hi; index++) {
		for (pos = 0;; pos++) {
			rva = applier_result(&ta, index, pos, &ra);
			rvb = applier_result(&tb, index, pos, &rb);
			SIM_ASSERT(sim, rva == rvb,
				   "servers %u and %u: result (%llu, %u) present on one only", a->i,
				   b->i, (unsigned long long)index, pos);
			if (rva != 0)
				break;
			SIM_ASSERT(sim, ra.request_id == rb.request_id && ra.code == rb.code,
				   "servers %u and %u: different results at (%llu, %u)", a->i, b->i,
				   (unsigned long long)index, pos);
		}
	}
	store_read_end(&ta);
	store_read_end(&tb);
}

/* Reads a file's data as of `at` into a request id (0: absent), from the
 * unique data "v<id>" or "heal<id>" of its put. */
static uint64_t read_file(struct sim *sim, struct store_txn *t, unsigned path, uint64_t at)
{
	struct file_row row;
	const void *val;
	size_t len;
	const char *p = sim_paths[path];
	char data[SIM_DATA_MAX + 1];
	int rv;

	rv = store_get(t, STORE_FILES, p, strlen(p), at, &val, &len);
	if (rv == ERR_NOTFOUND)
		return 0;
	SIM_ASSERT(sim, rv == 0, "read '%s' as of %llu: %d", p, (unsigned long long)at, rv);
	SIM_ASSERT(sim, file_row_decode(val, len, &row) == 0 && row.data.n <= SIM_DATA_MAX,
		   "file '%s' as of %llu: bad row", p, (unsigned long long)at);
	memcpy(data, row.data.p, row.data.n);
	data[row.data.n] = '\0';
	return strtoull(data + strcspn(data, "0123456789"), NULL, 10);
}

/* The request ids of the proposals: id → (proposal, position). */
struct cmd_ref {
	struct sim_prop *p;
	unsigned k;
};

static struct cmd_ref *index_commands(struct sim *sim)
{
	struct cmd_ref *refs = calloc(sim->next_request_id + 1, sizeof *refs);

	ck_assert_ptr_nonnull(refs);
	for (size_t j = 0; j < sim->n_props; j++) {
		struct sim_prop *p = sim->props[j];

		for (unsigned k = 0; k < p->n; k++) {
			refs[p->cmds[k].request_id].p = p;
			refs[p->cmds[k].request_id].k = k;
		}
	}
	return refs;
}

/*
 * The files of the final log, folded from server s's results: model[i] holds
 * the files after index i, as the request id of the put that wrote each (0:
 * absent). A rewind to N copies the files at N.
 */
static uint64_t *fold_files(struct sim *sim, struct sim_server *s, struct cmd_ref *refs)
{
	uint64_t applied = store_applied_index(&s->store), index;
	uint64_t *model = calloc((applied + 1) * SIM_N_PATHS, sizeof *model);
	struct store_txn t;
	struct result_row row;
	uint32_t pos;

	ck_assert_ptr_nonnull(model);
	ck_assert_int_eq(store_read(&s->store, &t), 0);
	for (index = 1; index <= applied; index++) {
		uint64_t *files = &model[index * SIM_N_PATHS];

		memcpy(files, files - SIM_N_PATHS, SIM_N_PATHS * sizeof *files);
		for (pos = 0; applier_result(&t, index, pos, &row) == 0; pos++) {
			struct cmd_ref *r;
			struct sim_cmd *c;

			SIM_ASSERT(sim,
				   row.request_id < sim->next_request_id &&
					   refs[row.request_id].p != NULL,
				   "index %llu holds request %llu, never proposed",
				   (unsigned long long)index, (unsigned long long)row.request_id);
			r = &refs[row.request_id];
			c = &r->p->cmds[r->k];
			if (row.code != 0)
				continue;
			if (c->type == CMD_FILE_PUT)
				files[c->path] = c->request_id;
			else if (c->type == CMD_FILE_DEL)
				files[c->path] = 0;
			else if (c->type == CMD_REWIND)
				memcpy(files, &model[c->target * SIM_N_PATHS],
				       SIM_N_PATHS * sizeof *files);
		}
	}
	store_read_end(&t);
	return model;
}

/* I1 for each acknowledged proposal on server s: all of them on a member,
 * those up to what it applied on the others. */
static void check_acked(struct sim *sim, struct sim_server *s, const uint64_t *model, bool member)
{
	struct store_txn t;
	struct result_row row;
	uint64_t applied = store_applied_index(&s->store), oldest = store_oldest_index(&s->store);
	int rv;

	ck_assert_int_eq(store_read(&s->store, &t), 0);
	for (size_t j = 0; j < sim->n_props; j++) {
		struct sim_prop *p = sim->props[j];

		if (!p->done || p->status != 0 || (!member && p->index > applied))
			continue;
		SIM_ASSERT(sim, applied >= p->index,
			   "server %u applied %llu, below acknowledged index %llu (I1)", s->i,
			   (unsigned long long)applied, (unsigned long long)p->index);
		for (unsigned k = 0; k < p->n; k++) {
			struct sim_cmd *c = &p->cmds[k];

			rv = applier_result(&t, p->index, k, &row);
			SIM_ASSERT(
				sim, rv == 0 && row.request_id == c->request_id,
				"server %u: acknowledged request %llu missing at (%llu, %u) (I1)",
				s->i, (unsigned long long)c->request_id,
				(unsigned long long)p->index, k);
			SIM_ASSERT(sim, row.code == c->code,
				   "server %u: request %llu result %lld, the leader reported %lld",
				   s->i, (unsigned long long)c->request_id, (long long)row.code,
				   (long long)c->code);
			if (c->type != CMD_FILE_PUT || c->code != 0 || p->index < oldest)
				continue;
			/* Later commands of the same entry may change the file
			 * again: then the model speaks for it. */
			if (model[p->index * SIM_N_PATHS + c->path] != c->request_id) {
				bool later = false;

				for (unsigned m = k + 1; m < p->n; m++)
					later |= (p->cmds[m].type == CMD_FILE_PUT ||
						  p->cmds[m].type == CMD_FILE_DEL) &&
						 p->cmds[m].path == c->path;
				SIM_ASSERT(
					sim, later,
					"acknowledged put %llu of '%s' is not in the model at %llu",
					(unsigned long long)c->request_id, sim_paths[c->path],
					(unsigned long long)p->index);
				continue;
			}
			SIM_ASSERT(
				sim, read_file(sim, &t, c->path, p->index) == c->request_id,
				"server %u: acknowledged put %llu of '%s' not readable as of %llu (I1)",
				s->i, (unsigned long long)c->request_id, sim_paths[c->path],
				(unsigned long long)p->index);
			sim->stats.puts_checked++;
		}
	}
	/* The final files are the model's. */
	for (unsigned path = 0; path < SIM_N_PATHS; path++) {
		uint64_t want = model[applied * SIM_N_PATHS + path];
		uint64_t got = read_file(sim, &t, path, STORE_AT_LATEST);

		SIM_ASSERT(sim, got == want,
			   "server %u: final '%s' is put %llu, the log says %llu (I1)", s->i,
			   sim_paths[path], (unsigned long long)got, (unsigned long long)want);
	}
	store_read_end(&t);
}

void sim_check_final(struct sim *sim, unsigned ref, const bool *member)
{
	struct cmd_ref *refs = index_commands(sim);
	struct sim_server *r = &sim->servers[ref];
	uint64_t *model;
	unsigned i;

	for (i = 0; i < sim->n; i++)
		if (i != ref)
			check_pair(sim, r, &sim->servers[i]);
	/* All servers applied the same log (checked above), the members to
	 * the same index after healing, the others to a prefix of it: one
	 * model serves them all. */
	model = fold_files(sim, r, refs);
	for (i = 0; i < sim->n; i++) {
		uint64_t applied = store_applied_index(&sim->servers[i].store);

		SIM_ASSERT(sim,
			   member[i] ? applied == store_applied_index(&r->store)
				     : applied <= store_applied_index(&r->store),
			   "server %u (%s) applied %llu, the leader %u %llu after healing", i,
			   member[i] ? "member" : "not a member", (unsigned long long)applied, ref,
			   (unsigned long long)store_applied_index(&r->store));
		check_acked(sim, &sim->servers[i], model, member[i]);
	}
	free(model);
	free(refs);
}
