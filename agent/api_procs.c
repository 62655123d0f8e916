/*
 * The process endpoints (DESIGN §6): POST /v1/procs (submit, ?wait=1 replies
 * at exit), GET /v1/procs, GET /v1/procs/{pid}, GET /v1/procs/{pid}/output
 * (?follow=1 streams with chunked encoding until the attempt ends) and
 * POST /v1/procs/{pid}/kill, and the durable steps of a process (DESIGN §5):
 * GET|POST /v1/procs/{pid}/steps/{name}.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/http_internal.h"
#include "common/error.h"
#include "common/pack.h"
#include "services/steps.h"

#define OUTPUT_SEND_MAX (256u << 10) /* bytes per chunk of a follow */

/* ---- Shared ----------------------------------------------------------- */

int http__pid_arg(struct http_req *r, unsigned i, uint64_t *pid)
{
	char err[200];

	if (http_u64_parse(r->cap[i].p, r->cap[i].n, "pid", pid, err, sizeof err) != 0) {
		http__reply_error(r, 400, ERR_INVALID, "%s", err);
		return ERR_INVALID;
	}
	if (*pid == 0) {
		http__reply_error(r, 400, ERR_INVALID, "pid 0 is not a process");
		return ERR_INVALID;
	}
	return 0;
}

static json_t *argv_json(const struct rawref *raw)
{
	struct unpacker u;
	json_t *a = json_array();
	uint32_t n, i;

	if (a == NULL)
		return NULL;
	unpacker_init(&u, raw->p, raw->n);
	if (unpack_array(&u, &n) != 0)
		return a;
	for (i = 0; i < n; i++) {
		const char *s;
		size_t len;

		if (unpack_str(&u, &s, &len) != 0)
			break;
		json_array_append_new(a, http__jstr(s, len));
	}
	return a;
}

static json_t *env_json(const struct rawref *raw)
{
	struct unpacker u;
	json_t *o = json_object();
	uint32_t n, i;

	if (o == NULL)
		return NULL;
	unpacker_init(&u, raw->p, raw->n);
	if (raw->n == 0 || unpack_map(&u, &n) != 0)
		return o;
	for (i = 0; i < n; i++) {
		const char *k, *v;
		size_t kn, vn;
		char *key;

		if (unpack_str(&u, &k, &kn) != 0 || unpack_str(&u, &v, &vn) != 0)
			break;
		key = malloc(kn + 1);
		if (key == NULL)
			break;
		memcpy(key, k, kn);
		key[kn] = '\0';
		/* Names that are not UTF-8 cannot be JSON keys; they are skipped. */
		if (http_utf8_valid(key, kn))
			json_object_set_new(o, key, http__jstr(v, vn));
		free(key);
	}
	return o;
}

static const char *placement_name(int placement)
{
	return placement == PLACE_NODE ? "node" : placement == PLACE_ALL ? "all" : "any";
}

int http__proc_json(const struct proc_row *p, const struct http_nodes *ns, bool full, json_t **out)
{
	const char *node = http__node_name(ns, p->node);
	char restart[32];
	json_t *j = json_object();
	bool ended = proc_is_ended(p->state);

	if (j == NULL)
		return ERR_NOMEM;
	http_restart_format(p->restart, p->max_restarts, restart, sizeof restart);
	json_object_set_new(j, "pid", json_integer((json_int_t)p->pid));
	json_object_set_new(j, "argv", argv_json(&p->argv));
	json_object_set_new(j, "node", node != NULL ? json_string(node) : json_null());
	json_object_set_new(j, "node_id", json_integer((json_int_t)p->node));
	json_object_set_new(j, "state", json_string(proc_state_name(p->state)));
	json_object_set_new(j, "attempt", json_integer(p->attempt));
	/* An exit code only once the process has ended (and not by a signal). */
	json_object_set_new(j, "exit_code",
			    ended && p->signal == 0 ? json_integer(p->exit_code) : json_null());
	json_object_set_new(j, "signal", json_integer(p->signal));
	json_object_set_new(j, "restart", json_string(restart));
	if (full) {
		json_object_set_new(j, "placement", json_string(placement_name(p->placement)));
		json_object_set_new(j, "env", env_json(&p->env));
		json_object_set_new(j, "cwd",
				    http__jstr(p->cwd.p != NULL ? p->cwd.p : "", p->cwd.n));
		json_object_set_new(j, "restarts", json_integer(p->restarts));
		json_object_set_new(j, "timeout_ms", json_integer((json_int_t)p->timeout_ms));
		json_object_set_new(j, "os_pid", json_integer((json_int_t)p->os_pid));
		json_object_set_new(j, "output_bytes", json_integer((json_int_t)p->output_bytes));
		json_object_set_new(j, "output_truncated", json_boolean(p->output_truncated));
		json_object_set_new(j, "kill_signal", json_integer(p->kill_signal));
		json_object_set_new(j, "submitted_ms", json_integer((json_int_t)p->submitted_ms));
		json_object_set_new(j, "started_ms", json_integer((json_int_t)p->started_ms));
		json_object_set_new(j, "ended_ms", json_integer((json_int_t)p->ended_ms));
	}
	*out = j;
	return 0;
}

/* Reads process `pid` as of r->at; replies 404/400/500 on failure. */
static int proc_read(struct http_req *r, struct store_txn *t, uint64_t pid, uint64_t at,
		     struct proc_row *p)
{
	uint8_t key[PROC_KEY_LEN];
	const void *v;
	size_t vl;
	int rv;

	proc_key(key, pid);
	rv = store_get(t, STORE_PROCS, key, sizeof key, at, &v, &vl);
	if (rv == ERR_NOTFOUND) {
		http__reply_error(r, 404, ERR_NOTFOUND, "no process %" PRIu64, pid);
		return rv;
	}
	if (rv != 0) {
		http__reply_store_error(r, t, rv, "process");
		return rv;
	}
	if (proc_row_decode(v, vl, p) != 0) {
		http__reply_error(r, 500, ERR_CORRUPT, "process %" PRIu64 ": row is corrupt", pid);
		return ERR_CORRUPT;
	}
	return 0;
}

/* ---- POST /v1/procs --------------------------------------------------- */

struct submit_state {
	bool wait;
	uint64_t index;
	size_t n;       /* pids waited for */
	size_t ended;   /* pids[0..ended) were seen ended */
	uint64_t *pids; /* from the request's pool */
};

static void wait_read(struct http_req *r, struct store_txn *t)
{
	struct submit_state *s = r->state;
	struct http_nodes ns;
	json_t *j, *procs;
	size_t i;
	int rv;

	/* Not applied here yet (a write forwarded to the leader): keep waiting. */
	if (t->index < s->index)
		return;
	/* Still running? (Keep waiting: the watch calls again.) An ended
	 * process stays ended, so each applied entry checks from the first one
	 * not seen ended: `count` copies cost O(count) in all, not per entry. */
	for (; s->ended < s->n; s->ended++) {
		uint8_t key[PROC_KEY_LEN];
		struct proc_row p;
		const void *v;
		size_t vl;

		proc_key(key, s->pids[s->ended]);
		if (store_get(t, STORE_PROCS, key, sizeof key, STORE_AT_LATEST, &v, &vl) == 0 &&
		    proc_row_decode(v, vl, &p) == 0 && !proc_is_ended(p.state))
			return;
	}
	rv = http__nodes_load(&ns, t, STORE_AT_LATEST);
	if (rv != 0) {
		http__reply_store_error(r, t, rv, "nodes");
		return;
	}
	j = json_object();
	procs = json_array();
	if (j == NULL || procs == NULL) {
		json_decref(j);
		json_decref(procs);
		http__nodes_release(&ns);
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		return;
	}
	json_object_set_new(j, "index", json_integer((json_int_t)s->index));
	json_object_set_new(j, "procs", procs);
	for (i = 0; i < s->n; i++) {
		uint8_t key[PROC_KEY_LEN];
		struct proc_row p;
		const void *v;
		size_t vl;
		json_t *e = json_object();
		const char *node;

		if (e == NULL)
			break;
		json_object_set_new(e, "pid", json_integer((json_int_t)s->pids[i]));
		proc_key(key, s->pids[i]);
		if (store_get(t, STORE_PROCS, key, sizeof key, STORE_AT_LATEST, &v, &vl) != 0 ||
		    proc_row_decode(v, vl, &p) != 0) {
			/* Gone (rewound away). */
			json_object_set_new(e, "node", json_null());
			json_object_set_new(e, "state", json_string("absent"));
			json_object_set_new(e, "exit_code", json_null());
			json_object_set_new(e, "signal", json_integer(0));
		} else {
			node = http__node_name(&ns, p.node);
			json_object_set_new(e, "node",
					    node != NULL ? json_string(node) : json_null());
			json_object_set_new(e, "state", json_string(proc_state_name(p.state)));
			json_object_set_new(e, "exit_code",
					    p.signal == 0 ? json_integer(p.exit_code)
							  : json_null());
			json_object_set_new(e, "signal", json_integer(p.signal));
		}
		json_array_append_new(procs, e);
	}
	http__nodes_release(&ns);
	http__reply_json(r, 200, j);
}

static void wait_check(struct http_req *r, uint64_t applied)
{
	http__read(r, true, wait_read);
}

static void submit_done(struct http_req *r, const struct agent_result *res)
{
	struct submit_state *s = r->state;
	struct unpacker u;
	uint32_t n, i, k;

	if (!s->wait) {
		http__reply_json(r, 200,
				 http__result_json(res->result, res->result_len, res->index));
		return;
	}
	/* The result is {"pids": [...], "nodes": [...]} (services/proc.c). */
	s->index = res->index;
	unpacker_init(&u, res->result, res->result != NULL ? res->result_len : 0);
	if (unpack_map(&u, &n) != 0)
		n = 0;
	for (i = 0; i < n; i++) {
		const char *key;
		size_t kl;
		uint32_t m;

		if (unpack_str(&u, &key, &kl) != 0)
			break;
		if (kl == 4 && memcmp(key, "pids", 4) == 0 && unpack_array(&u, &m) == 0) {
			if (m > CMD_COUNT_MAX * 16u)
				break; /* never from our service */
			s->pids = h2o_mem_alloc_pool(&r->req->pool, (m + 1) * sizeof *s->pids);
			for (k = 0; k < m; k++) {
				uint64_t pid;

				if (unpack_uint(&u, &pid) != 0)
					break;
				s->pids[s->n++] = pid;
			}
		} else if (unpack_skip(&u) != 0) {
			break;
		}
	}
	http__watch(r, wait_check);
	wait_check(r, 0);
}

/* Builds the proc.submit command of a JSON body into `cmd` (pointing into
 * c->b1, c->b2); replies 400 and returns an error on bad input. */
static int submit_parse(struct http_req *r, struct http_call *c, json_t *j, struct cmd *cmd)
{
	struct cmd_proc_submit *s = &cmd->u.submit;
	json_t *argv = json_object_get(j, "argv"), *env = json_object_get(j, "env"), *v;
	const char *str, *name;
	struct packer pk;
	char err[300];
	size_t n = 0, i, cwd_at = 0, cwd_n = 0, node_at = 0, node_n = 0;

	if (argv == NULL || json_array_size(argv) == 0) {
		http__reply_error(r, 400, ERR_INVALID, "argv must be a non-empty array of strings");
		return ERR_INVALID;
	}
	if (json_array_size(argv) > CMD_ARGV_MAX) {
		http__reply_error(r, 413, ERR_TOOBIG,
				  "argv has %zu arguments, over the limit of %d",
				  json_array_size(argv), CMD_ARGV_MAX);
		return ERR_TOOBIG;
	}
	packer_init(&pk, &c->b1);
	pack_array(&pk, (uint32_t)json_array_size(argv));
	json_array_foreach(argv, i, v)
	{
		char what[32];

		snprintf(what, sizeof what, "argv[%zu]", i);
		n = 0;
		if (http_json_str(v, what, &str, &n, err, sizeof err) != 0 || n == 0 ||
		    n > CMD_ARG_MAX) {
			if (n == 0 && json_is_string(v))
				snprintf(err, sizeof err, "%s is empty", what);
			else if (json_is_string(v) && n > CMD_ARG_MAX)
				snprintf(err, sizeof err, "%s is over %d bytes", what, CMD_ARG_MAX);
			http__reply_error(r, 400, ERR_INVALID, "%s", err);
			return ERR_INVALID;
		}
		pack_str(&pk, str, n);
	}
	packer_init(&pk, &c->b2);
	if (env != NULL && json_object_size(env) > CMD_ENV_MAX) {
		http__reply_error(r, 413, ERR_TOOBIG, "env has %zu variables, over the limit of %d",
				  json_object_size(env), CMD_ENV_MAX);
		return ERR_TOOBIG;
	}
	pack_map(&pk, env != NULL ? (uint32_t)json_object_size(env) : 0);
	if (env != NULL) {
		json_object_foreach(env, name, v)
		{
			if (name[0] == '\0' || strchr(name, '=') != NULL ||
			    strlen(name) > CMD_ARG_MAX) {
				http__reply_error(
					r, 400, ERR_INVALID,
					"env name '%.64s' is empty, has '=' or is too long", name);
				return ERR_INVALID;
			}
			n = 0;
			if (http_json_str(v, "env value", &str, &n, err, sizeof err) != 0 ||
			    n > CMD_ARG_MAX) {
				http__reply_error(r, 400, ERR_INVALID, "env '%.64s': %s", name,
						  n > CMD_ARG_MAX ? "value too long" : err);
				return ERR_INVALID;
			}
			pack_cstr(&pk, name);
			pack_str(&pk, str, n);
		}
	}
	if (pk.err != 0 || c->b1.len + c->b2.len > CMD_ARGS_TOTAL_MAX) {
		http__reply_error(r, 413, ERR_TOOBIG, "argv and env are over %u bytes",
				  CMD_ARGS_TOTAL_MAX);
		return ERR_TOOBIG;
	}
	s->argv.count = (uint32_t)json_array_size(argv);
	s->env.count = env != NULL ? (uint32_t)json_object_size(env) : 0;

	if ((v = json_object_get(j, "cwd")) != NULL) {
		if (http_json_str(v, "cwd", &str, &n, err, sizeof err) != 0 || n > CMD_CWD_MAX) {
			http__reply_error(r, 400, ERR_INVALID, "%s",
					  n > CMD_CWD_MAX ? "cwd is too long" : err);
			return ERR_INVALID;
		}
		cwd_at = c->b2.len;
		cwd_n = n;
		buf_append(&c->b2, str, n);
	}
	s->placement = PLACE_ANY;
	if ((v = json_object_get(j, "placement")) != NULL) {
		if (http_json_str(v, "placement", &str, &n, err, sizeof err) != 0 ||
		    !(strcmp(str, "any") == 0 || strcmp(str, "all") == 0 ||
		      strcmp(str, "node") == 0)) {
			http__reply_error(r, 400, ERR_INVALID,
					  "placement must be \"any\", \"all\" or \"node\"");
			return ERR_INVALID;
		}
		s->placement = strcmp(str, "all") == 0    ? PLACE_ALL
			       : strcmp(str, "node") == 0 ? PLACE_NODE
							  : PLACE_ANY;
	}
	if ((v = json_object_get(j, "node")) != NULL) {
		if (http_json_str(v, "node", &str, &n, err, sizeof err) != 0 ||
		    http_node_name_check(str, n, err, sizeof err) != 0) {
			http__reply_error(r, 400, ERR_INVALID, "%s", err);
			return ERR_INVALID;
		}
		if (json_object_get(j, "placement") != NULL && s->placement != PLACE_NODE) {
			http__reply_error(
				r, 400, ERR_INVALID,
				"\"node\" and \"placement\": \"%s\" contradict each other",
				s->placement == PLACE_ALL ? "all" : "any");
			return ERR_INVALID;
		}
		s->placement = PLACE_NODE;
		node_at = c->b2.len;
		node_n = n;
		buf_append(&c->b2, str, n);
	} else if (s->placement == PLACE_NODE) {
		http__reply_error(r, 400, ERR_INVALID, "placement \"node\" needs \"node\": NAME");
		return ERR_INVALID;
	}
	s->restart = RESTART_NO;
	if ((v = json_object_get(j, "restart")) != NULL) {
		if (http_json_str(v, "restart", &str, &n, err, sizeof err) != 0 ||
		    http_restart_parse(str, n, &s->restart, &s->max_restarts, err, sizeof err) !=
			    0) {
			http__reply_error(r, 400, ERR_INVALID, "%s", err);
			return ERR_INVALID;
		}
	}
	if ((v = json_object_get(j, "timeout")) != NULL) {
		double secs = json_is_number(v) ? json_number_value(v) : -1;

		if (!json_is_number(v) || !isfinite(secs) || secs < 0 || secs > 1e9) {
			http__reply_error(r, 400, ERR_INVALID,
					  "timeout must be a number of seconds, 0..1e9");
			return ERR_INVALID;
		}
		s->timeout_ms = (uint64_t)(secs * 1000 + 0.5);
	}
	if ((v = json_object_get(j, "count")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > CMD_COUNT_MAX) {
			http__reply_error(r, 400, ERR_INVALID,
					  "count must be an integer from 1 to %d", CMD_COUNT_MAX);
			return ERR_INVALID;
		}
		if (json_integer_value(v) > 1 && s->placement == PLACE_ALL) {
			http__reply_error(r, 400, ERR_INVALID,
					  "count needs placement \"any\" or a node, not \"all\"");
			return ERR_INVALID;
		}
		/* 1 is left out: the command of a single process stays as it was. */
		s->count = json_integer_value(v) > 1 ? (uint32_t)json_integer_value(v) : 0;
	}
	if ((v = json_object_get(j, "key")) != NULL) {
		if (http_json_str(v, "key", &str, &n, err, sizeof err) != 0 || n == 0 ||
		    n > CMD_KEY_MAX) {
			http__reply_error(r, 400, ERR_INVALID,
					  "key must be a string of 1..%d bytes", CMD_KEY_MAX);
			return ERR_INVALID;
		}
		if (cmd->key.p != NULL && (cmd->key.n != n || memcmp(cmd->key.p, str, n) != 0)) {
			http__reply_error(r, 400, ERR_INVALID,
					  "\"key\" differs from the Idempotency-Key header");
			return ERR_INVALID;
		}
		memcpy(c->key, str, n);
		c->key[n] = '\0';
		cmd->key.p = c->key;
		cmd->key.n = n;
	}
	if (c->b2.len > 0 && c->b2.data == NULL) {
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		return ERR_NOMEM;
	}
	/* b2 is complete: its pointers are stable now. */
	s->argv.p = c->b1.data;
	s->argv.n = c->b1.len;
	s->env.p = c->b2.data;
	s->env.n = c->b2.len - cwd_n - node_n;
	s->cwd.p = cwd_n > 0 ? (const char *)c->b2.data + cwd_at : NULL;
	s->cwd.n = cwd_n;
	s->node.p = node_n > 0 ? (const char *)c->b2.data + node_at : NULL;
	s->node.n = node_n;
	return 0;
}

void api_procs_submit(struct http_req *r)
{
	static const struct http_field fields[] = {
		{"argv", JSON_ARRAY},     {"node", JSON_STRING}, {"placement", JSON_STRING},
		{"restart", JSON_STRING}, {"env", JSON_OBJECT},  {"cwd", JSON_STRING},
		{"timeout", -1},          {"key", JSON_STRING},  {"count", -1},
	};
	struct submit_state *s;
	struct http_call *c;
	struct cmd cmd;
	json_t *j;
	int rv;

	s = h2o_mem_alloc_pool(&r->req->pool, sizeof *s);
	memset(s, 0, sizeof *s);
	r->state = s;
	if (http__query_bool(r, "wait", &s->wait) != 0)
		return;
	if (http__json_body(r, fields, sizeof fields / sizeof fields[0], &j) != 0)
		return;
	c = http__call_new(r);
	if (c == NULL) {
		json_decref(j);
		return;
	}
	rv = http__cmd_init(r, c, &cmd, CMD_PROC_SUBMIT);
	if (rv == 0)
		rv = submit_parse(r, c, j, &cmd);
	json_decref(j);
	if (rv != 0) {
		http__call_free(c);
		return;
	}
	http__submit(r, c, &cmd, submit_done);
}

/* ---- GET /v1/procs, GET /v1/procs/{pid} ------------------------------- */

static void list_read(struct http_req *r, struct store_txn *t)
{
	const char *state = r->state;
	struct http_nodes ns;
	struct store_iter it;
	const void *k, *v;
	size_t kl, vl;
	json_t *j, *procs;
	int rv;

	rv = http__nodes_load(&ns, t, r->at);
	if (rv != 0) {
		http__reply_store_error(r, t, rv, "nodes");
		return;
	}
	rv = store_iter_init(&it, t, STORE_PROCS, NULL, 0, r->at);
	if (rv != 0) {
		http__nodes_release(&ns);
		http__reply_store_error(r, t, rv, "procs");
		return;
	}
	j = json_object();
	procs = json_array();
	json_object_set_new(j, "procs", procs);
	/* Key order is pid order: the newest last. */
	while ((rv = store_iter_next(&it, &k, &kl, &v, &vl)) == 0) {
		struct proc_row p;
		json_t *e;

		if (proc_row_decode(v, vl, &p) != 0)
			continue;
		if (state[0] != '\0' && strcmp(state, proc_state_name(p.state)) != 0)
			continue;
		if (http__proc_json(&p, &ns, false, &e) != 0) {
			rv = ERR_NOMEM;
			break;
		}
		json_array_append_new(procs, e);
	}
	store_iter_close(&it);
	http__nodes_release(&ns);
	if (rv != ERR_NOTFOUND) {
		json_decref(j);
		http__reply_store_error(r, t, rv, "procs");
		return;
	}
	json_object_set_new(j, "index", json_integer((json_int_t)(r->has_at ? r->at : t->index)));
	http__reply_json(r, 200, j);
}

void api_procs_list(struct http_req *r)
{
	char *state = h2o_mem_alloc_pool(&r->req->pool, 16);
	bool found;
	int i;

	if (http__query_str(r, "state", state, 16, &found) != 0)
		return;
	if (found) {
		for (i = 0; i < PROC_STATE_COUNT; i++)
			if (strcmp(state, proc_state_name(i)) == 0)
				break;
		if (i == PROC_STATE_COUNT) {
			http__reply_error(r, 400, ERR_INVALID,
					  "state '%s' is not pending, running, exited, failed, "
					  "killed or lost",
					  state);
			return;
		}
	}
	r->state = state;
	http__read(r, r->stale, list_read);
}

static void get_read(struct http_req *r, struct store_txn *t)
{
	uint64_t pid = *(uint64_t *)r->state;
	struct http_nodes ns;
	struct proc_row p;
	json_t *j;
	int rv;

	if (proc_read(r, t, pid, r->at, &p) != 0)
		return;
	rv = http__nodes_load(&ns, t, r->at);
	if (rv != 0) {
		http__reply_store_error(r, t, rv, "nodes");
		return;
	}
	rv = http__proc_json(&p, &ns, true, &j);
	http__nodes_release(&ns);
	if (rv != 0) {
		http__reply_error(r, 500, rv, "out of memory");
		return;
	}
	http__reply_json(r, 200, j);
}

void api_procs_get(struct http_req *r)
{
	uint64_t *pid = h2o_mem_alloc_pool(&r->req->pool, sizeof *pid);

	if (http__pid_arg(r, 0, pid) != 0)
		return;
	r->state = pid;
	http__read(r, r->stale, get_read);
}

/* ---- GET /v1/procs/{pid}/output --------------------------------------- */

struct output_state {
	h2o_generator_t gen; /* first: the generator's callbacks find us */
	struct http_req *r;
	uint64_t pid;
	uint32_t attempt; /* 0: the current one */
	int stream;
	uint64_t next_seq;
	bool follow;
	bool inflight; /* h2o_send in progress: wait for proceed */
	bool finished; /* the final h2o_send was made (or the client left) */
	bool stopping; /* http_stop: end after what is in flight */
	struct buf out;
};

static void output_dispose(void *p)
{
	struct output_state *o = p;

	buf_release(&o->out);
}

/* Appends the chunks of (pid, attempt, stream) from o->next_seq to o->out,
 * at most `max` bytes (at least one chunk). */
static int output_collect(struct output_state *o, struct store_txn *t, uint64_t at, size_t max)
{
	uint8_t prefix[OUTPUT_KEY_LEN], start[OUTPUT_KEY_LEN];
	struct store_iter it;
	const void *k, *v;
	size_t kl, vl;
	int rv;

	output_key(prefix, o->pid, o->attempt, o->stream, 0);
	output_key(start, o->pid, o->attempt, o->stream, o->next_seq);
	rv = store_iter_init(&it, t, STORE_OUTPUT, prefix, OUTPUT_KEY_LEN - 8, at);
	if (rv != 0)
		return rv;
	rv = store_iter_seek(&it, start, sizeof start);
	while (rv == 0 && (rv = store_iter_next(&it, &k, &kl, &v, &vl)) == 0) {
		uint64_t seq;

		if (output_key_parse(k, kl, NULL, NULL, NULL, &seq) != 0)
			continue;
		if (o->out.len > 0 && o->out.len + vl > max)
			break;
		rv = buf_append(&o->out, v, vl);
		o->next_seq = seq + 1;
	}
	store_iter_close(&it);
	return rv == ERR_NOTFOUND ? 0 : rv;
}

static void output_read(struct http_req *r, struct store_txn *t)
{
	struct output_state *o = r->state;
	struct proc_row p;
	int rv;

	if (proc_read(r, t, o->pid, r->at, &p) != 0)
		return;
	if (o->attempt == 0)
		o->attempt = p.attempt;
	rv = output_collect(o, t, r->at, SIZE_MAX);
	if (rv != 0) {
		http__reply_store_error(r, t, rv, "output");
		return;
	}
	http__header_u64(r, "x-logos-attempt", o->attempt);
	http__header_u64(r, "x-logos-next-seq", o->next_seq);
	http__header_u64(r, "x-logos-index", r->has_at ? r->at : t->index);
	http__header(r, "x-logos-state", proc_state_name(p.state));
	http__reply_raw(r, 200, "application/octet-stream", o->out.data, o->out.len);
}

static void follow_pump(struct output_state *o);

static void follow_final(struct output_state *o)
{
	struct http_req *r = o->r;

	if (o->finished)
		return;
	o->finished = true;
	r->streaming = false;
	http__unwatch(r);
	h2o_send(r->req, NULL, 0, H2O_SEND_STATE_FINAL);
}

static void follow_read_cb(void *arg, int status, struct store_txn *t)
{
	struct http_call *c = arg;
	struct http_req *r = c->r;
	struct output_state *o;
	uint8_t key[PROC_KEY_LEN];
	struct proc_row p;
	const void *v;
	size_t vl;
	bool ended = true, again;
	h2o_iovec_t iov;

	http__call_free(c);
	if (r == NULL)
		return;
	o = r->state;
	/* An entry applied while the read was pending is read next. */
	again = r->rewatch;
	r->rewatch = false;
	if (o->finished)
		return;
	if (status != 0 || t == NULL) {
		/* Cannot read: end the stream rather than stall it. */
		follow_final(o);
		return;
	}
	proc_key(key, o->pid);
	if (store_get(t, STORE_PROCS, key, sizeof key, STORE_AT_LATEST, &v, &vl) == 0 &&
	    proc_row_decode(v, vl, &p) == 0)
		ended = proc_is_ended(p.state) || p.attempt != o->attempt;
	o->out.len = 0;
	if (output_collect(o, t, STORE_AT_LATEST, OUTPUT_SEND_MAX) != 0) {
		follow_final(o);
		return;
	}
	if (o->out.len > 0) {
		o->inflight = true;
		iov = h2o_iovec_init(o->out.data, o->out.len);
		h2o_send(r->req, &iov, 1, H2O_SEND_STATE_IN_PROGRESS);
		return;
	}
	if (ended || o->stopping)
		follow_final(o);
	else if (again)
		follow_pump(o);
}

static void follow_pump(struct output_state *o)
{
	struct http_req *r = o->r;
	struct http_call *c;
	int rv;

	if (o->inflight || o->finished || r->call != NULL)
		return;
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		follow_final(o);
		return;
	}
	c->r = r;
	r->call = c;
	rv = agent_read(r->h->a, true, follow_read_cb, c);
	if (rv != 0) {
		http__call_free(c);
		follow_final(o);
	}
}

static void follow_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	struct output_state *o = (struct output_state *)gen;

	o->inflight = false;
	if (o->stopping)
		follow_final(o);
	else
		follow_pump(o);
}

static void follow_stop(h2o_generator_t *gen, h2o_req_t *req)
{
	struct output_state *o = (struct output_state *)gen;

	/* The connection is closing; the request is disposed next. */
	o->finished = true;
}

static void follow_on_apply(struct http_req *r, uint64_t applied)
{
	follow_pump(r->state);
}

static void follow_on_stop(struct http_req *r)
{
	struct output_state *o = r->state;

	if (o == NULL || o->finished)
		return;
	o->stopping = true;
	if (!o->inflight && r->call == NULL)
		follow_final(o);
}

static void follow_start(struct http_req *r, struct store_txn *t)
{
	struct output_state *o = r->state;
	struct proc_row p;
	h2o_req_t *req = r->req;

	if (proc_read(r, t, o->pid, STORE_AT_LATEST, &p) != 0)
		return;
	if (o->attempt == 0)
		o->attempt = p.attempt;
	if (o->attempt > p.attempt) {
		http__reply_error(r, 404, ERR_NOTFOUND,
				  "process %" PRIu64 " has no attempt %" PRIu32
				  " (current: %" PRIu32 ")",
				  o->pid, o->attempt, p.attempt);
		return;
	}
	http__header_u64(r, "x-logos-attempt", o->attempt);
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("application/octet-stream"));
	/* Replied (no other reply may start) but still watching. */
	r->replied = true;
	r->streaming = true;
	r->on_stop = follow_on_stop;
	o->gen.proceed = follow_proceed;
	o->gen.stop = follow_stop;
	h2o_start_response(req, &o->gen);
	http__watch(r, follow_on_apply);
	/* The first chunk: the read below (the same path as every later one). */
	follow_pump(o);
}

void api_procs_output(struct http_req *r)
{
	struct output_state *o;
	char stream[16], err[200];
	uint64_t attempt = 0;
	bool found;

	o = h2o_mem_alloc_shared(&r->req->pool, sizeof *o, output_dispose);
	memset(o, 0, sizeof *o);
	o->r = r;
	o->stream = STREAM_STDOUT;
	r->state = o;
	if (http__pid_arg(r, 0, &o->pid) != 0)
		return;
	if (http__query_u64(r, "attempt", &attempt, &found) != 0)
		return;
	if (found && (attempt == 0 || attempt > UINT32_MAX)) {
		http__reply_error(r, 400, ERR_INVALID, "attempt must be 1..%" PRIu32, UINT32_MAX);
		return;
	}
	o->attempt = (uint32_t)attempt;
	if (http__query_str(r, "stream", stream, sizeof stream, &found) != 0)
		return;
	if (found && strcmp(stream, "stderr") == 0)
		o->stream = STREAM_STDERR;
	else if (found && strcmp(stream, "stdout") != 0) {
		http__reply_error(r, 400, ERR_INVALID, "stream must be stdout or stderr");
		return;
	}
	if (http__query_u64(r, "seq", &o->next_seq, &found) != 0)
		return;
	if (http__query_bool(r, "follow", &o->follow) != 0)
		return;
	if (o->follow && r->has_at) {
		http__reply_error(r, 400, ERR_INVALID, "?follow=1 reads live output, not ?at=");
		return;
	}
	(void)err;
	http__read(r, r->stale, o->follow ? follow_start : output_read);
}

/* ---- POST /v1/procs/{pid}/kill ---------------------------------------- */

void api_procs_kill(struct http_req *r)
{
	static const struct http_field fields[] = {{"signal", -1}};
	struct http_call *c;
	struct cmd cmd;
	uint64_t pid;
	char err[200];
	json_t *j, *v;
	int sig = 15;

	if (http__pid_arg(r, 0, &pid) != 0)
		return;
	if (http__json_body(r, fields, 1, &j) != 0)
		return;
	v = json_object_get(j, "signal");
	if (v != NULL) {
		if (json_is_integer(v) && json_integer_value(v) >= 1 &&
		    json_integer_value(v) <= 64) {
			sig = (int)json_integer_value(v);
		} else if (!json_is_string(v) ||
			   http_signal_parse(json_string_value(v), json_string_length(v), &sig, err,
					     sizeof err) != 0) {
			http__reply_error(r, 400, ERR_INVALID, "%s",
					  json_is_string(v) ? err
							    : "signal must be 1..64 or a name");
			json_decref(j); /* after: v belongs to j */
			return;
		}
	}
	json_decref(j);
	c = http__call_new(r);
	if (c == NULL)
		return;
	if (http__cmd_init(r, c, &cmd, CMD_PROC_KILL) != 0) {
		http__call_free(c);
		return;
	}
	cmd.u.kill.pid = pid;
	cmd.u.kill.signal = sig;
	http__submit(r, c, &cmd, NULL);
}

/* ---- GET|POST /v1/procs/{pid}/steps/{name} ---------------------------- *
 *
 * The durable steps of DESIGN §5, used by `logos step`. Step output is bytes;
 * in JSON it travels as standard base64 (RFC 4648, with padding).
 *   GET  → 200 {"pid", "name", "exit_code", "output" (base64), "attempt",
 *               "recorded_ms"}, or 404 when the step (or the process) is not
 *               recorded.
 *   POST {"attempt", "exit_code", "output" (base64, decoded at most
 *        CMD_STEP_OUTPUT_MAX bytes)} → the step.record result: {"index",
 *        "replayed": false} when recorded now, or {"index", "replayed": true,
 *        "exit_code", "output", "attempt"} when an earlier record won.
 */

struct step_state {
	uint64_t pid;
	char name[CMD_STEP_NAME_MAX + 1];
	size_t n;
};

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *b64_json(const uint8_t *p, size_t n)
{
	char *s = malloc((n + 2) / 3 * 4 + 1);
	size_t i, k = 0;
	json_t *j;

	if (s == NULL)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		s[k++] = b64_alphabet[v >> 18 & 63];
		s[k++] = b64_alphabet[v >> 12 & 63];
		s[k++] = b64_alphabet[v >> 6 & 63];
		s[k++] = b64_alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);

		s[k++] = b64_alphabet[v >> 18 & 63];
		s[k++] = b64_alphabet[v >> 12 & 63];
		s[k++] = i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=';
		s[k++] = '=';
	}
	j = json_stringn(s, k);
	free(s);
	return j;
}

/* Decodes base64 `s` (`n` bytes; padding optional) onto `out`. ERR_INVALID
 * on a character outside the alphabet, ERR_NOMEM. */
static int b64_decode(const char *s, size_t n, struct buf *out)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i;

	while (n > 0 && s[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++) {
		const char *c = memchr(b64_alphabet, s[i], 64);
		uint8_t byte;

		if (c == NULL || s[i] == '\0')
			return ERR_INVALID;
		acc = acc << 6 | (uint32_t)(c - b64_alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			byte = (uint8_t)(acc >> bits);
			if (buf_append(out, &byte, 1) != 0)
				return ERR_NOMEM;
		}
	}
	return 0;
}

/* The pid (capture 0) and step name (capture 1, percent-decoded) into a new
 * step_state; replies 400 on a bad argument. */
static int step_args(struct http_req *r, struct step_state **out)
{
	struct step_state *s = h2o_mem_alloc_pool(&r->req->pool, sizeof *s);
	char err[200];

	memset(s, 0, sizeof *s);
	if (http__pid_arg(r, 0, &s->pid) != 0)
		return ERR_INVALID;
	if (http_pct_decode(r->cap[1].p, r->cap[1].n, false, s->name, CMD_STEP_NAME_MAX, &s->n, err,
			    sizeof err) != 0 ||
	    s->n == 0) {
		http__reply_error(r, 400, ERR_INVALID, "step name must be 1..%d bytes%s%s",
				  CMD_STEP_NAME_MAX, s->n == 0 ? "" : ": ", s->n == 0 ? "" : err);
		return ERR_INVALID;
	}
	s->name[s->n] = '\0';
	*out = s;
	return 0;
}

static void step_read(struct http_req *r, struct store_txn *t)
{
	struct step_state *s = r->state;
	uint8_t key[STEP_KEY_MAX];
	struct step_row row;
	const void *v;
	size_t klen, vl;
	json_t *j;
	int rv;

	klen = step_key(key, s->pid, s->name, s->n);
	rv = store_get(t, STORE_STEPS, key, klen, r->at, &v, &vl);
	if (rv == ERR_NOTFOUND) {
		http__reply_error(r, 404, ERR_NOTFOUND, "process %" PRIu64 " has no step '%s'",
				  s->pid, s->name);
		return;
	}
	if (rv != 0) {
		http__reply_store_error(r, t, rv, "step");
		return;
	}
	if (step_row_decode(v, vl, &row) != 0) {
		http__reply_error(r, 500, ERR_CORRUPT,
				  "step '%s' of process %" PRIu64 " is corrupt", s->name, s->pid);
		return;
	}
	j = json_object();
	if (j == NULL) {
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		return;
	}
	json_object_set_new(j, "pid", json_integer((json_int_t)s->pid));
	json_object_set_new(j, "name", http__jstr(s->name, s->n));
	json_object_set_new(j, "exit_code", json_integer(row.exit_code));
	json_object_set_new(j, "output", b64_json(row.output.p, row.output.n));
	json_object_set_new(j, "attempt", json_integer(row.attempt));
	json_object_set_new(j, "recorded_ms", json_integer((json_int_t)row.recorded_ms));
	http__reply_json(r, 200, j);
}

void api_procs_step_get(struct http_req *r)
{
	struct step_state *s;

	if (step_args(r, &s) != 0)
		return;
	r->state = s;
	http__read(r, r->stale, step_read);
}

void api_procs_step_record(struct http_req *r)
{
	static const struct http_field fields[] = {
		{"attempt", JSON_INTEGER}, {"exit_code", JSON_INTEGER}, {"output", JSON_STRING}};
	struct step_state *s;
	struct http_call *c;
	struct cmd cmd;
	json_t *j, *attempt, *code, *output;
	int rv;

	if (step_args(r, &s) != 0)
		return;
	if (http__json_body(r, fields, sizeof fields / sizeof fields[0], &j) != 0)
		return;
	attempt = json_object_get(j, "attempt");
	code = json_object_get(j, "exit_code");
	output = json_object_get(j, "output");
	if (attempt == NULL || json_integer_value(attempt) < 1 ||
	    json_integer_value(attempt) > UINT32_MAX || code == NULL ||
	    json_integer_value(code) < INT32_MIN || json_integer_value(code) > INT32_MAX) {
		json_decref(j);
		http__reply_error(r, 400, ERR_INVALID,
				  "\"attempt\" (1..%" PRIu32 ") and \"exit_code\" are required",
				  UINT32_MAX);
		return;
	}
	c = http__call_new(r);
	if (c == NULL) {
		json_decref(j);
		return;
	}
	rv = output != NULL
		     ? b64_decode(json_string_value(output), json_string_length(output), &c->b1)
		     : 0;
	if (rv != 0 || c->b1.len > CMD_STEP_OUTPUT_MAX) {
		json_decref(j);
		http__call_free(c);
		if (rv == ERR_NOMEM)
			http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		else if (rv != 0)
			http__reply_error(r, 400, ERR_INVALID, "\"output\" is not base64");
		else
			http__reply_error(r, 413, ERR_TOOBIG,
					  "step output is over the limit of %d bytes",
					  CMD_STEP_OUTPUT_MAX);
		return;
	}
	if (http__cmd_init(r, c, &cmd, CMD_STEP_RECORD) != 0) {
		json_decref(j);
		http__call_free(c);
		return;
	}
	memcpy(c->s1, s->name, s->n + 1);
	cmd.u.step.pid = s->pid;
	cmd.u.step.attempt = (uint32_t)json_integer_value(attempt);
	cmd.u.step.name.p = c->s1;
	cmd.u.step.name.n = s->n;
	cmd.u.step.exit_code = (int32_t)json_integer_value(code);
	cmd.u.step.output.p = c->b1.data;
	cmd.u.step.output.n = c->b1.len;
	json_decref(j);
	http__submit(r, c, &cmd, NULL);
}
