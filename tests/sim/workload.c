/*
 * Client commands of the simulation (tests/sim/sim.h): random entries of one
 * to three commands — file put and del with compare-and-set versions, queue
 * send and receive, process submit, started, exited and kill, node join, down
 * and up, and alone in their entry rewinds to a readable index and
 * compactions — encoded with the real command format and entry builder
 * (services/command.h) and proposed through raft_apply to a server that
 * believes it leads (a stale leader too: its requests must fail). The
 * generator follows tests/unit/statestore/test_apply.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <raft.h>
#include <raft/fixture.h>

#include "common/error.h"
#include "common/pack.h"
#include "services/command.h"
#include "services/files.h"
#include "statestore/apply.h"
#include "statestore/store.h"
#include "tests/sim/sim.h"

const char *const sim_paths[SIM_N_PATHS] = {"/etc/app.conf", "/etc/app", "/a/b/c", "/x", "/y"};
static const char *const names[] = {"h1", "h2", "h3", "h4"};
static const char *const queues[] = {"jobs", "mail", "q.3"};

static struct strref str(const char *s)
{
	struct strref r = {s, strlen(s)};

	return r;
}

/* The version of a file in server i's latest state, 0 if absent. */
static uint64_t file_version_at(struct sim *sim, unsigned i, unsigned path)
{
	struct store *st = &sim->servers[i].store;
	struct store_txn t;
	struct file_row row;
	const void *val;
	size_t len;
	uint64_t version = 0;
	const char *p = sim_paths[path];

	ck_assert_int_eq(store_read(st, &t), 0);
	if (store_get(&t, STORE_FILES, p, strlen(p), STORE_AT_LATEST, &val, &len) == 0 &&
	    file_row_decode(val, len, &row) == 0)
		version = row.version;
	store_read_end(&t);
	return version;
}

/* Fills `c` (and its record `sc`) with a random command for leader i. The
 * argv of a submit is packed into `argv`, which must outlive the encoding. */
static void random_cmd(struct sim *sim, unsigned i, bool alone, struct cmd *c, struct sim_cmd *sc,
		       struct buf *argv)
{
	static const char *const args[] = {"/bin/echo", "hello", "world"};
	struct store *st = &sim->servers[i].store;
	struct packer pk;
	uint64_t r = sim_below(sim, alone ? 20 : 18);

	memset(c, 0, sizeof *c);
	memset(sc, 0, sizeof *sc);
	c->version = CMD_VERSION;
	c->time_ms = 1700000000000ULL + raft_fixture_time(&sim->f);
	c->origin = sim_raft(sim, i)->id;
	c->term = sim_raft(sim, i)->current_term;
	c->request_id = sim->next_request_id++;
	c->principal = str("root");
	/* Idempotency keys only on commands the final model does not follow
	 * (a replayed key answers the first result without applying). */
	if (r >= 6 && r <= 14 && sim_below(sim, 8) == 0)
		c->key = str(sim_below(sim, 2) ? "k1" : "k2");
	switch (r) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
		c->type = CMD_FILE_PUT;
		sc->path = (unsigned)sim_below(sim, SIM_N_PATHS);
		c->u.put.path = str(sim_paths[sc->path]);
		/* Unique data, so that reading it back proves which put it is. */
		sc->len = (size_t)snprintf((char *)sc->data, sizeof sc->data, "v%llu",
					   (unsigned long long)c->request_id);
		c->u.put.data.p = sc->data;
		c->u.put.data.n = sc->len;
		/* Half of them compare-and-set against the leader's view (mostly
		 * accepted), the rest unconditional or a random version. */
		if (sim_below(sim, 2) == 0)
			c->u.put.if_version = (int64_t)file_version_at(sim, i, sc->path);
		else
			c->u.put.if_version = (int64_t)sim_below(sim, 4) - 1;
		break;
	case 5:
		c->type = CMD_FILE_DEL;
		sc->path = (unsigned)sim_below(sim, SIM_N_PATHS);
		c->u.del.path = str(sim_paths[sc->path]);
		c->u.del.if_version =
			sim_below(sim, 2) ? -1 : (int64_t)file_version_at(sim, i, sc->path);
		break;
	case 6:
	case 7:
		c->type = CMD_MSG_SEND;
		c->u.send.queue = str(queues[sim_below(sim, 3)]);
		c->u.send.data.p = (const uint8_t *)"{\"n\":1}";
		c->u.send.data.n = 7;
		break;
	case 8:
		c->type = CMD_MSG_RECV;
		c->u.recv.queue = str(queues[sim_below(sim, 3)]);
		break;
	case 9:
		c->type = CMD_PROC_SUBMIT;
		argv->len = 0;
		packer_init(&pk, argv);
		pack_array(&pk, 3);
		for (int k = 0; k < 3; k++)
			pack_cstr(&pk, args[k]);
		c->u.submit.argv.p = argv->data;
		c->u.submit.argv.n = argv->len;
		c->u.submit.argv.count = 3;
		c->u.submit.env.p = (const uint8_t *)"\x80";
		c->u.submit.env.n = 1;
		c->u.submit.placement = (int)sim_below(sim, 3);
		if (c->u.submit.placement == PLACE_NODE)
			c->u.submit.node = str(names[sim_below(sim, 4)]);
		c->u.submit.restart = (int)sim_below(sim, 3);
		c->u.submit.max_restarts = (uint32_t)sim_below(sim, 3);
		break;
	case 10:
		c->type = CMD_PROC_STARTED;
		c->u.started.pid = 1 + sim_below(sim, 12);
		c->u.started.attempt = 1 + (uint32_t)sim_below(sim, 3);
		c->u.started.os_pid = 1000 + sim_below(sim, 1000);
		break;
	case 11:
		c->type = CMD_PROC_EXITED;
		c->u.exited.pid = 1 + sim_below(sim, 12);
		c->u.exited.attempt = 1 + (uint32_t)sim_below(sim, 3);
		c->u.exited.exit_code = (int32_t)sim_below(sim, 3);
		break;
	case 12:
		c->type = CMD_PROC_KILL;
		c->u.kill.pid = 1 + sim_below(sim, 12);
		c->u.kill.signal = 15;
		break;
	case 13:
		c->type = CMD_NODE_JOIN;
		c->u.join.name = str(names[sim_below(sim, 4)]);
		c->u.join.raft_addr = str("127.0.0.1:7701");
		c->u.join.http_addr = str("127.0.0.1:7700");
		break;
	case 14:
		c->type = CMD_NODE_DOWN + (uint32_t)sim_below(sim, 2); /* down or up */
		c->u.node.node = 1 + sim_below(sim, 5);
		break;
	case 15:
	case 16:
	case 17:
		c->type = CMD_NOOP;
		break;
	case 18:
	case 19: {
		/* Alone in its entry, so that the digest after it is the
		 * rewind's own (the rewind invariant). */
		uint64_t oldest = store_oldest_index(st), applied = store_applied_index(st);

		if (r == 18 || applied < oldest + 24) {
			c->type = CMD_REWIND;
			c->u.history.target = oldest + sim_below(sim, applied - oldest + 1);
		} else {
			/* Compact rarely and keep the recent history, so that
			 * the final checks still see most indexes. */
			c->type = CMD_COMPACT;
			c->u.history.target = oldest + sim_below(sim, applied - oldest - 16);
		}
		break;
	}
	}
	sc->type = c->type;
	sc->request_id = c->request_id;
	if (c->type == CMD_REWIND || c->type == CMD_COMPACT)
		sc->target = c->u.history.target;
	sc->keyed = c->key.p != NULL;
}

static void prop_cb(struct raft_apply *req, int status, void *result)
{
	struct sim_prop *p = req->data;
	struct sim *sim = p->sim;
	struct sim_server *s = &sim->servers[p->server];
	struct store_txn t;
	struct result_row row;
	unsigned k;
	int rv;

	p->done = true;
	p->status = status;
	p->index = req->index;
	sim_trace(sim, p->cmds[0].request_id);
	sim_trace(sim, (uint64_t)status);
	if (status != 0) {
		sim->stats.failed++;
		return;
	}
	sim->stats.acked++;
	sim_trace(sim, p->index);
	/* The leader committed an entry of its current term: it may change the
	 * configuration (schedule.c, change). */
	if (!sim->closing && sim_raft(sim, p->server)->current_term == p->term)
		s->committed_term = p->term;
	/* Acknowledged: the leader applied it. Record each command's result,
	 * which every replica must agree with (I1). */
	ck_assert_int_eq(store_read(&s->store, &t), 0);
	for (k = 0; k < p->n; k++) {
		rv = applier_result(&t, p->index, k, &row);
		SIM_ASSERT(sim, rv == 0, "leader %u acknowledged index %llu without a result (%d)",
			   p->server, (unsigned long long)p->index, rv);
		SIM_ASSERT(sim, row.request_id == p->cmds[k].request_id,
			   "leader %u acknowledged request %llu at index %llu, which holds %llu",
			   p->server, (unsigned long long)p->cmds[k].request_id,
			   (unsigned long long)p->index, (unsigned long long)row.request_id);
		p->cmds[k].code = row.code;
	}
	store_read_end(&t);
}

static struct sim_prop *prop_new(struct sim *sim, unsigned i)
{
	struct sim_prop *p = calloc(1, sizeof *p);

	ck_assert_ptr_nonnull(p);
	if (sim->n_props == sim->cap_props) {
		sim->cap_props = sim->cap_props ? 2 * sim->cap_props : 64;
		sim->props = realloc(sim->props, sim->cap_props * sizeof *sim->props);
		ck_assert_ptr_nonnull(sim->props);
	}
	sim->props[sim->n_props++] = p;
	p->sim = sim;
	p->server = i;
	p->req.data = p;
	return p;
}

/* Hands the entry in sim->scratch to raft. */
static bool prop_submit(struct sim *sim, struct sim_prop *p)
{
	struct raft_buffer buf;
	int rv;

	buf.len = sim->scratch.len;
	buf.base = raft_malloc(buf.len);
	ck_assert_ptr_nonnull(buf.base);
	memcpy(buf.base, sim->scratch.data, buf.len);
	p->term = sim_raft(sim, p->server)->current_term;
	rv = raft_apply(sim_raft(sim, p->server), &p->req, &buf, 1, prop_cb);
	sim_trace(sim, (uint64_t)rv);
	if (rv != 0) {
		/* The callback never fires. libraft 0.22 (legacy.c, raft_apply)
		 * puts the entry in its log before asking raft_io to append it:
		 * when that append fails (RAFT_IOERR) the log keeps and later
		 * frees the buffer, so freeing it here would free it twice. */
		if (rv != RAFT_IOERR)
			raft_free(buf.base);
		p->done = true;
		p->status = rv;
		return false;
	}
	sim->stats.proposed++;
	return true;
}

static void build_entry(struct sim *sim, unsigned i, struct sim_prop *p, unsigned n)
{
	struct entry_builder b;
	struct buf one, argv;
	struct cmd c;
	unsigned k;

	buf_init(&one);
	buf_init(&argv);
	sim->scratch.len = 0;
	ck_assert_int_eq(entry_begin(&b, &sim->scratch), 0);
	for (k = 0; k < n; k++) {
		one.len = 0;
		random_cmd(sim, i, n == 1, &c, &p->cmds[k], &argv);
		ck_assert_msg(cmd_encode(&c, &one) == 0, "encode type %u", c.type);
		ck_assert_int_eq(entry_add(&b, one.data, one.len), 0);
	}
	p->n = n;
	ck_assert_int_eq(entry_finish(&b), 0);
	ck_assert_uint_eq(sim->scratch.len % 8, 0);
	buf_release(&one);
	buf_release(&argv);
}

bool sim_propose_random(struct sim *sim)
{
	unsigned leaders[SIM_MAX_SERVERS], n = 0, i;
	struct sim_prop *p;

	for (i = 0; i < sim->n; i++)
		if (raft_fixture_alive(&sim->f, i) && raft_state(sim_raft(sim, i)) == RAFT_LEADER)
			leaders[n++] = i;
	if (n == 0)
		return false;
	i = leaders[sim_below(sim, n)];
	p = prop_new(sim, i);
	/* One command in a quarter of the entries (rewinds and compactions
	 * only there), else two or three. */
	build_entry(sim, i, p, sim_below(sim, 4) == 0 ? 1 : 2 + (unsigned)sim_below(sim, 2));
	return prop_submit(sim, p);
}

struct sim_prop *sim_propose_put(struct sim *sim, unsigned i)
{
	struct entry_builder b;
	struct sim_prop *p = prop_new(sim, i);
	struct sim_cmd *sc = &p->cmds[0];
	struct buf one;
	struct cmd c;

	memset(&c, 0, sizeof c);
	c.version = CMD_VERSION;
	c.type = CMD_FILE_PUT;
	c.time_ms = 1700000000000ULL + raft_fixture_time(&sim->f);
	c.origin = sim_raft(sim, i)->id;
	c.term = sim_raft(sim, i)->current_term;
	c.request_id = sim->next_request_id++;
	c.principal = str("root");
	sc->type = c.type;
	sc->request_id = c.request_id;
	sc->path = 0;
	sc->len = (size_t)snprintf((char *)sc->data, sizeof sc->data, "heal%llu",
				   (unsigned long long)c.request_id);
	c.u.put.path = str(sim_paths[sc->path]);
	c.u.put.data.p = sc->data;
	c.u.put.data.n = sc->len;
	c.u.put.if_version = -1;
	p->n = 1;
	buf_init(&one);
	ck_assert_int_eq(cmd_encode(&c, &one), 0);
	sim->scratch.len = 0;
	ck_assert_int_eq(entry_begin(&b, &sim->scratch), 0);
	ck_assert_int_eq(entry_add(&b, one.data, one.len), 0);
	ck_assert_int_eq(entry_finish(&b), 0);
	buf_release(&one);
	prop_submit(sim, p);
	return p;
}
