/*
 * The agent's set-up and life cycle (agent/agent.h): data directory, cluster
 * identity (node id, cluster secret), bootstrap or join, the hook run after
 * every applied entry, watches, status, and the graceful stop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "agent/client.h"
#include "agent/http.h"
#include "agent/internal.h"
#include "common/error.h"
#include "services/nodes.h"

/* Files in the data directory. */
#define NODE_ID_FILE "node-id"
#define RAFT_DIR     "raft"
#define TOKEN_FILE   "join-token"

/* Decodes exactly 2 * n lower- or upper-case hex digits into `out`. */
static int unhex(const char *s, uint8_t *out, size_t n)
{
	size_t len;

	if (strlen(s) != 2 * n || sodium_hex2bin(out, n, s, 2 * n, NULL, &len, NULL) != 0 ||
	    len != n)
		return ERR_INVALID;
	return 0;
}

void agent__secret_header(const struct agent *a, char out[AGENT_SECRET_HEADER_LEN])
{
	char hexs[2 * TRANSPORT_SECRET_LEN + 1];

	sodium_bin2hex(hexs, sizeof hexs, a->secret, sizeof a->secret);
	snprintf(out, AGENT_SECRET_HEADER_LEN, "X-Logos-Secret: %s\r\n", hexs);
}

int agent__parse_token(const char *token, uint8_t secret[TRANSPORT_SECRET_LEN])
{
	return unhex(token, secret, TRANSPORT_SECRET_LEN);
}

static int write_file(const char *dir, const char *name, const char *content)
{
	char path[512], tmp[520];
	int fd;
	size_t n = strlen(content);

	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return ERR_IO;
	if (write(fd, content, n) != (ssize_t)n || fsync(fd) != 0) {
		close(fd);
		return ERR_IO;
	}
	close(fd);
	return rename(tmp, path) == 0 ? 0 : ERR_IO;
}

static int read_file(const char *dir, const char *name, char *out, size_t size)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "re");
	if (f == NULL)
		return errno == ENOENT ? ERR_NOTFOUND : ERR_IO;
	n = fread(out, 1, size - 1, f);
	fclose(f);
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	return 0;
}

/* Wakes whatever waits on an index, with the committed applied index. */
static void wake_watches(struct agent *a)
{
	struct agent_watch *w, *next;
	uint64_t applied = store_applied_index(&a->store);

	for (w = a->watches; w != NULL; w = next) {
		next = w->next;
		w->cb(w, applied);
	}
}

/* A rewind changes rows without effects: the reconciler rebuilds its index
 * of this node's processes from the rows (reconcile.c). */
static void check_rewound(struct agent *a)
{
	struct agent_impl *m = impl(a);

	if (a->applier.rewinds != m->rewinds_seen) {
		m->rewinds_seen = a->applier.rewinds;
		reconcile__run(a);
	}
}

/* The hooks consensus drives: apply (or commit a group), then wake whatever
 * waits on the index — only once it is committed (common/sm.h). */
static int wrapped_apply(struct sm *sm, uint64_t index, const void *buf, size_t len)
{
	struct agent *a = sm->data;
	int rv;

	rv = a->sm.apply(&a->sm, index, buf, len);
	if (rv != 0)
		return rv;
	check_rewound(a);
	wake_watches(a);
	return 0;
}

static int wrapped_apply_deferred(struct sm *sm, uint64_t index, const void *buf, size_t len)
{
	struct agent *a = sm->data;

	return a->sm.apply_deferred(&a->sm, index, buf, len);
}

static int wrapped_flush(struct sm *sm)
{
	struct agent *a = sm->data;
	int rv;

	rv = a->sm.flush(&a->sm);
	if (rv != 0)
		return rv;
	check_rewound(a);
	wake_watches(a);
	return 0;
}

static int wrapped_snapshot_begin(struct sm *sm, struct sm_snapshot **snap)
{
	struct agent *a = sm->data;

	return a->sm.snapshot_begin(&a->sm, snap);
}

static void wrapped_snapshot_end(struct sm *sm, struct sm_snapshot *snap)
{
	struct agent *a = sm->data;

	a->sm.snapshot_end(&a->sm, snap);
}

static int wrapped_restore(struct sm *sm, const void *buf, size_t len)
{
	struct agent *a = sm->data;
	int rv = a->sm.restore(&a->sm, buf, len);

	if (rv == 0) {
		logger_info(&a->lg,
			    "restored a snapshot applied=%llu: the reconciler rebuilds its index",
			    (unsigned long long)a->sm.applied_index(&a->sm));
		reconcile__run(a);
		wake_watches(a);
	}
	return rv;
}

static uint64_t wrapped_applied(struct sm *sm)
{
	struct agent *a = sm->data;

	return a->sm.applied_index(&a->sm);
}

static const char *wrapped_errmsg(struct sm *sm)
{
	struct agent *a = sm->data;

	return a->sm.errmsg(&a->sm);
}

void agent_watch_add(struct agent *a, struct agent_watch *w)
{
	w->prev = NULL;
	w->next = a->watches;
	if (a->watches != NULL)
		a->watches->prev = w;
	a->watches = w;
}

void agent_watch_remove(struct agent *a, struct agent_watch *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else if (a->watches == w)
		a->watches = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
}

const uint8_t *agent_secret(const struct agent *a)
{
	return a->secret;
}

const struct agent_metrics *agent_metrics(const struct agent *a)
{
	return &a->metrics;
}

/* Looks up a node's name and HTTP address in the local state. */
static void node_info(struct agent *a, uint64_t id, char *name, size_t nlen, char *http,
		      size_t hlen)
{
	struct store_txn t;
	struct node_row row;
	uint8_t key[NODE_KEY_LEN];
	const void *v;
	size_t vl;

	name[0] = http[0] = '\0';
	if (id == 0 || store_read(&a->store, &t) != 0)
		return;
	node_key(key, id);
	if (store_get(&t, STORE_NODES, key, sizeof key, STORE_AT_LATEST, &v, &vl) == 0 &&
	    node_row_decode(v, vl, &row) == 0) {
		snprintf(name, nlen, "%.*s", (int)row.name.n, row.name.p);
		snprintf(http, hlen, "%.*s", (int)row.http_addr.n, row.http_addr.p);
	}
	store_read_end(&t);
}

void agent_status(struct agent *a, struct agent_status *st)
{
	struct agent_impl *m = impl(a);
	const char *addr;

	memset(st, 0, sizeof *st);
	st->id = a->id;
	st->name = a->cfg.name;
	st->leader_id = consensus_leader(&a->consensus, &addr);
	if (st->leader_id != 0) {
		node_info(a, st->leader_id, m->leader_name, sizeof m->leader_name, m->leader_http,
			  sizeof m->leader_http);
		st->leader_name = m->leader_name[0] ? m->leader_name : NULL;
		st->leader_http = m->leader_http[0] ? m->leader_http : NULL;
	}
	st->term = consensus_term(&a->consensus);
	st->applied_index = store_applied_index(&a->store);
	st->commit_index = consensus_commit_index(&a->consensus);
	st->oldest_index = store_oldest_index(&a->store);
	digest_hex(store_digest(&a->store), st->digest);
	st->is_leader = consensus_is_leader(&a->consensus);
}

const char *submit__leader_http(struct agent *a)
{
	struct agent_impl *m = impl(a);
	char name[64];
	const char *addr;
	uint64_t id = consensus_leader(&a->consensus, &addr);

	if (id == 0)
		return NULL;
	node_info(a, id, name, sizeof name, m->leader_http, sizeof m->leader_http);
	return m->leader_http[0] ? m->leader_http : NULL;
}

static void on_fatal(void *arg, const char *msg)
{
	struct agent *a = arg;

	/* DESIGN §4.4: an I/O error of the log or the store is fatal; the
	 * agent recovers from its peers when restarted. */
	logger_error(&a->lg, "fatal: %s; stopping (restart to recover from the peers)", msg);
	fprintf(stderr, "logosd: fatal: %s\n", msg);
	exit(1);
}

static void on_tick(uv_timer_t *t)
{
	struct agent *a = t->data;

	if (a->stopping)
		return;
	detector__tick(a);
	reconcile__tick(a);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct agent *a = s->data;

	logger_info(&a->lg, "signal=%d stopping", signum);
	agent_stop(a, 0);
}

/* Joins through an existing member: POST /v1/nodes, following the leader. */
static int join_cluster(struct agent *a, uint64_t *id)
{
	const struct agent_config *cfg = &a->cfg;
	char addr[128], err[256], *body;
	struct buf resp;
	json_t *req, *j, *v;
	json_error_t jerr;
	int status = 0, rv = 0, hops;

	snprintf(addr, sizeof addr, "%s", cfg->join_addr);
	if (strncmp(addr, "http://", 7) == 0)
		memmove(addr, addr + 7, strlen(addr + 7) + 1);
	req = json_pack("{s:s, s:s, s:s, s:s}", "name", cfg->name, "raft", cfg->raft_addr, "http",
			cfg->http_addr, "token", cfg->token);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	buf_init(&resp);
	/* Up to 30 s: the cluster may still be electing or registering its
	 * first node (503), or point us to its leader. */
	for (hops = 0; hops < 150; hops++) {
		resp.len = 0;
		rv = client_request_sync(addr, "POST", "/v1/nodes",
					 "Content-Type: application/json\r\n", body, strlen(body),
					 10000, &status, &resp, err, sizeof err);
		if (rv != 0) {
			logger_error(&a->lg, "join via %s failed: %s", addr, err);
			break;
		}
		j = json_loadb((const char *)resp.data, resp.len, 0, &jerr);
		if (status == 503) {
			if (j != NULL && json_is_string(v = json_object_get(j, "leader")))
				snprintf(addr, sizeof addr, "%s", json_string_value(v));
			json_decref(j);
			usleep(200 * 1000);
			continue;
		}
		if (status != 200 || j == NULL || !json_is_integer(v = json_object_get(j, "id"))) {
			logger_error(&a->lg, "join via %s refused (HTTP %d): %.*s", addr, status,
				     (int)resp.len, resp.data ? (const char *)resp.data : "");
			json_decref(j);
			rv = ERR_DENIED;
			break;
		}
		*id = (uint64_t)json_integer_value(v);
		json_decref(j);
		rv = 0;
		break;
	}
	if (hops == 150) {
		logger_error(&a->lg, "join via %s: no leader accepted the join within 30 s", addr);
		rv = ERR_UNAVAILABLE;
	}
	free(body);
	buf_release(&resp);
	return rv;
}

static int setup_identity(struct agent *a, bool *bootstrap)
{
	struct agent_config *cfg = &a->cfg;
	char text[128], token[2 * TRANSPORT_SECRET_LEN + 1], path[512];
	int rv;

	*bootstrap = false;
	rv = read_file(cfg->data_dir, NODE_ID_FILE, text, sizeof text);
	if (rv == 0) {
		/* A restart: rejoin as before. */
		a->id = strtoull(text, NULL, 10);
		if (read_file(cfg->data_dir, TOKEN_FILE, token, sizeof token) != 0 ||
		    unhex(token, a->secret, sizeof a->secret) != 0 || a->id == 0) {
			logger_error(&a->lg, "data dir '%s' is damaged: bad %s or %s",
				     cfg->data_dir, NODE_ID_FILE, TOKEN_FILE);
			return ERR_CORRUPT;
		}
		if (cfg->init || cfg->join_addr[0] != '\0')
			logger_info(&a->lg, "data dir '%s' holds node id=%llu: rejoining as before",
				    cfg->data_dir, (unsigned long long)a->id);
		return 0;
	}
	if (cfg->init) {
		randombytes_buf(a->secret, sizeof a->secret);
		a->id = 1;
		*bootstrap = true;
	} else if (cfg->join_addr[0] != '\0') {
		if (unhex(cfg->token, a->secret, sizeof a->secret) != 0) {
			logger_error(&a->lg,
				     "the token must be the %d hex digits printed by "
				     "'logosd --init'",
				     2 * TRANSPORT_SECRET_LEN);
			return ERR_INVALID;
		}
		rv = join_cluster(a, &a->id);
		if (rv != 0)
			return rv;
	} else {
		logger_error(&a->lg,
			     "no cluster state in '%s': start with --init to create a cluster, "
			     "--join ADDR --token T to join one, or --dev to try logos",
			     cfg->data_dir);
		return ERR_NOTFOUND;
	}
	/* raft's directory exists from before the identity does: see raft_log_lost(). */
	snprintf(path, sizeof path, "%s/%s", cfg->data_dir, RAFT_DIR);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		logger_error(&a->lg, "cannot create '%s': %s", path, strerror(errno));
		return ERR_IO;
	}
	sodium_bin2hex(token, sizeof token, a->secret, sizeof a->secret);
	snprintf(text, sizeof text, "%llu\n", (unsigned long long)a->id);
	if (write_file(cfg->data_dir, TOKEN_FILE, token) != 0 ||
	    write_file(cfg->data_dir, NODE_ID_FILE, text) != 0) {
		logger_error(&a->lg, "cannot write to data dir '%s': %s", cfg->data_dir,
			     strerror(errno));
		return ERR_IO;
	}
	return 0;
}

/*
 * Whether this node's raft log was lost while its identity was kept (its
 * raft directory removed, or emptied while the state shows applied entries).
 * Such a node must not take part under the same id: it could vote a second
 * time in a term it already voted in, and the leader, which remembers what
 * it had acknowledged, would never send it the entries again (libraft 0.22
 * stalls on a match index that went backwards). The identity files are
 * written after the raft directory is created, so a missing directory means
 * a removed one.
 */
static bool raft_log_lost(struct agent *a)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", a->cfg.data_dir, RAFT_DIR);
	if (stat(path, &st) != 0)
		return errno == ENOENT;
	if (store_applied_index(&a->store) == 0)
		return false;
	snprintf(path, sizeof path, "%s/%s/metadata1", a->cfg.data_dir, RAFT_DIR);
	if (stat(path, &st) == 0)
		return false;
	snprintf(path, sizeof path, "%s/%s/metadata2", a->cfg.data_dir, RAFT_DIR);
	return stat(path, &st) != 0 && errno == ENOENT;
}

int agent_init(struct agent *a, const struct agent_config *cfg)
{
	struct agent_impl *m;
	struct consensus_config cc;
	char path[512], err[256];
	bool bootstrap;
	int rv, level;

	memset(a, 0, sizeof *a);
	a->cfg = *cfg;
	level = logger_level_parse(cfg->log_level[0] ? cfg->log_level : "info");
	logger_init(&a->lg, level < 0 ? LOG_LEVEL_INFO : level);
	if (sodium_init() < 0) {
		logger_error(&a->lg, "libsodium failed to initialize");
		return ERR_INTERNAL;
	}
	m = calloc(1, sizeof *m);
	if (m == NULL)
		return ERR_NOMEM;
	a->impl = m;
	buf_init(&m->stopping);
	buf_init(&m->signaled);
	buf_init(&m->seen);
	buf_init(&m->marked);
	attempts_init(&m->finals, sizeof(uint32_t));
	attempts_init(&m->live, 0);
	m->full_due = true; /* the first pass: orphans, and the index from the rows */

	if (a->cfg.dev) {
		snprintf(a->cfg.data_dir, sizeof a->cfg.data_dir, "/tmp/logosd-dev-XXXXXX");
		if (mkdtemp(a->cfg.data_dir) == NULL) {
			logger_error(&a->lg, "cannot create a temporary directory: %s",
				     strerror(errno));
			return ERR_IO;
		}
		a->cfg.init = true;
	}
	if (a->cfg.name[0] == '\0' && gethostname(a->cfg.name, sizeof a->cfg.name - 1) != 0)
		snprintf(a->cfg.name, sizeof a->cfg.name, "node");
	if (mkdir(a->cfg.data_dir, 0700) != 0 && errno != EEXIST) {
		logger_error(&a->lg, "cannot create data dir '%s': %s", a->cfg.data_dir,
			     strerror(errno));
		return ERR_IO;
	}
	snprintf(m->http_url, sizeof m->http_url, "http://%s", a->cfg.http_addr);

	rv = uv_loop_init(&a->loop);
	if (rv != 0)
		return ERR_INTERNAL;
	/* Before raft starts: replaying the log and restoring a snapshot
	 * already schedule the reconciler and the batch flush. */
	uv_check_init(&a->loop, &m->flush);
	m->flush.data = a;
	uv_idle_init(&a->loop, &m->flush_kick);
	uv_idle_init(&a->loop, &m->reconcile_soon);
	m->reconcile_soon.data = a;
	uv_timer_init(&a->loop, &m->hold);
	m->hold.data = a;
	forward__init(a);
	uv_timer_init(&a->loop, &m->nudge_timer);
	m->nudge_timer.data = a;
	uv_timer_init(&a->loop, &m->tick);
	m->tick.data = a;
	uv_timer_init(&a->loop, &m->stop_guard);
	m->stop_guard.data = a;
	rv = setup_identity(a, &bootstrap);
	if (rv != 0)
		return rv;

	snprintf(path, sizeof path, "%s/state", a->cfg.data_dir);
	rv = store_open(&a->store, path, NULL);
	if (rv != 0) {
		logger_error(&a->lg, "%s", a->store.errmsg);
		return rv;
	}
	if (!bootstrap && raft_log_lost(a)) {
		logger_error(&a->lg,
			     "the raft log of node %llu in '%s/%s' is gone, but its identity is "
			     "still there: a node that lost its log must not rejoin under the same "
			     "id (it could vote twice in a term). Remove it from the cluster "
			     "('logos node remove %llu' on a live member), empty '%s', and join "
			     "again with --join",
			     (unsigned long long)a->id, a->cfg.data_dir, RAFT_DIR,
			     (unsigned long long)a->id, a->cfg.data_dir);
		store_close(&a->store);
		return ERR_CORRUPT;
	}
	applier_init(&a->applier, &a->store, &a->sm, reconcile__effect, a);
	m->wrapped.data = a;
	m->wrapped.apply = wrapped_apply;
	m->wrapped.apply_deferred = wrapped_apply_deferred;
	m->wrapped.flush = wrapped_flush;
	m->wrapped.snapshot_begin = wrapped_snapshot_begin;
	m->wrapped.snapshot_write = a->sm.snapshot_write; /* the handle is all it needs */
	m->wrapped.snapshot_errmsg = a->sm.snapshot_errmsg;
	m->wrapped.snapshot_end = wrapped_snapshot_end;
	m->wrapped.restore = wrapped_restore;
	m->wrapped.applied_index = wrapped_applied;
	m->wrapped.errmsg = wrapped_errmsg;

	snprintf(path, sizeof path, "%s/exec.journal", a->cfg.data_dir);
	rv = exec_init(&a->exec, &a->loop, path, &reconcile__exec_callbacks, a, &a->lg, &m->orphans,
		       &m->norphans);
	if (rv != 0) {
		logger_error(&a->lg, "executor: %s", a->exec.errmsg);
		return rv;
	}
	if (m->norphans > 0)
		logger_warn(&a->lg, "found %zu attempts of a previous run; reporting them lost",
			    m->norphans);

	memset(&cc, 0, sizeof cc);
	snprintf(path, sizeof path, "%s/%s", a->cfg.data_dir, RAFT_DIR);
	cc.id = a->id;
	cc.raft_addr = a->cfg.raft_addr;
	cc.dir = path;
	cc.secret = a->secret;
	cc.election_timeout_ms = a->cfg.election_timeout_ms;
	cc.heartbeat_ms = a->cfg.heartbeat_ms;
	cc.snapshot_threshold = a->cfg.snapshot_threshold;
	cc.sm = &m->wrapped;
	cc.lg = &a->lg;
	cc.on_fatal = on_fatal;
	cc.arg = a;
	rv = consensus_init(&a->consensus, &a->loop, &cc);
	if (rv != 0) {
		logger_error(&a->lg, "consensus: %s", a->consensus.errmsg);
		return rv;
	}
	if (bootstrap) {
		rv = consensus_bootstrap(&a->consensus);
		if (rv != 0) {
			logger_error(&a->lg, "bootstrap: %s", a->consensus.errmsg);
			return rv;
		}
	}
	rv = consensus_start(&a->consensus);
	if (rv != 0) {
		logger_error(&a->lg, "start raft: %s", a->consensus.errmsg);
		return rv;
	}
	rv = http_start(&a->http, a, &a->loop, a->cfg.http_addr, err, sizeof err);
	if (rv != 0) {
		logger_error(&a->lg, "http: %s", err);
		return rv;
	}

	uv_timer_start(&m->tick, on_tick, AGENT_TICK_MS, AGENT_TICK_MS);
	uv_signal_init(&a->loop, &m->sigterm);
	uv_signal_init(&a->loop, &m->sigint);
	m->sigterm.data = m->sigint.data = a;
	uv_signal_start(&m->sigterm, on_signal, SIGTERM);
	uv_signal_start(&m->sigint, on_signal, SIGINT);

	logger_info(&a->lg, "started node=%llu name=%s raft=%s http=%s data_dir=%s",
		    (unsigned long long)a->id, a->cfg.name, a->cfg.raft_addr, a->cfg.http_addr,
		    a->cfg.data_dir);
	if (bootstrap) {
		char token[2 * TRANSPORT_SECRET_LEN + 1];
		sodium_bin2hex(token, sizeof token, a->secret, sizeof a->secret);
		printf("logos: new cluster; this host is node 1 (%s)\n"
		       "API: http://%s   data: %s\n"
		       "To add a host, run on it (with its own addresses):\n"
		       "  logosd --join %s --token %s --name NAME --data-dir DIR --raft IP:PORT "
		       "--http IP:PORT\n"
		       "The token is also in %s/%s (keep it secret).\n",
		       a->cfg.name, a->cfg.http_addr, a->cfg.data_dir, a->cfg.http_addr, token,
		       a->cfg.data_dir, TOKEN_FILE);
		fflush(stdout);
	}
	return 0;
}

int agent_run(struct agent *a)
{
	uv_run(&a->loop, UV_RUN_DEFAULT);
	return a->exit_status;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void on_consensus_closed(struct consensus *c)
{
	struct agent *a = (struct agent *)((char *)c - offsetof(struct agent, consensus));

	applier_close(&a->applier);
	store_close(&a->store);
	/* --dev keeps nothing, like `nomad agent -dev`. */
	if (a->cfg.dev)
		nftw(a->cfg.data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	logger_info(&a->lg, "stopped node=%llu", (unsigned long long)a->id);
}

static void on_exec_closed(struct exec *x)
{
	struct agent *a = (struct agent *)((char *)x - offsetof(struct agent, exec));

	consensus_close(&a->consensus, on_consensus_closed);
}

static void on_http_stopped(void *arg)
{
	struct agent *a = arg;

	a->http = NULL;
	exec_close(&a->exec, on_exec_closed);
}

static void close_all(struct agent *a)
{
	struct agent_impl *m = impl(a);

	if (m->closing_started)
		return;
	m->closing_started = true;
	submit__fail_all(a, ERR_CANCELED);
	submit__reads_close(a);
	forward__close(a);
	reconcile__close(a);
	uv_close((uv_handle_t *)&m->flush, NULL);
	uv_close((uv_handle_t *)&m->flush_kick, NULL);
	uv_close((uv_handle_t *)&m->reconcile_soon, NULL);
	uv_close((uv_handle_t *)&m->hold, NULL);
	uv_close((uv_handle_t *)&m->nudge_timer, NULL);
	uv_close((uv_handle_t *)&m->tick, NULL);
	uv_close((uv_handle_t *)&m->sigterm, NULL);
	uv_close((uv_handle_t *)&m->sigint, NULL);
	uv_close((uv_handle_t *)&m->stop_guard, NULL);
	if (a->http != NULL)
		http_stop(a->http, on_http_stopped, a);
	else
		on_http_stopped(a);
}

static void on_transferred(void *arg, int status)
{
	struct agent *a = arg;

	logger_info(&a->lg, "leadership transfer status=%d", status);
	close_all(a);
}

static void on_stop_guard(uv_timer_t *t)
{
	struct agent *a = t->data;

	/* No answer from the transfer (e.g. this node lost its quorum and
	 * stepped down meanwhile): stop anyway; closing raft cancels it. */
	logger_warn(&a->lg, "leadership transfer did not finish: stopping anyway");
	close_all(a);
}

void agent_stop(struct agent *a, int status)
{
	if (a->stopping)
		return;
	a->stopping = true;
	a->exit_status = status;
	/* Hand leadership over first, so the cluster does not wait for an
	 * election timeout. */
	if (consensus_is_leader(&a->consensus) &&
	    consensus_transfer(&a->consensus, on_transferred, a) == 0) {
		uv_timer_start(&impl(a)->stop_guard, on_stop_guard,
			       2 * (uint64_t)a->cfg.election_timeout_ms, 0);
		return;
	}
	close_all(a);
}
