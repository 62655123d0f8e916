/*
 * The internal endpoints between agents (protocol in agent/http_internal.h):
 * a follower forwards commands to the leader (a batch, or one), asks it for a
 * read index, and sends it heartbeats. Every one requires the cluster secret in the header
 * X-Logos-Secret, compared in constant time.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/forward.h"
#include "agent/http_internal.h"
#include "common/error.h"

/* 403 unless the request carries the cluster secret. */
static int check_secret(struct http_req *r)
{
	const h2o_headers_t *hs = &r->req->headers;
	uint8_t got[TRANSPORT_SECRET_LEN];
	const char *end;
	size_t n;
	ssize_t i;

	i = h2o_find_header_by_str(hs, H2O_STRLIT("x-logos-secret"), -1);
	if (i == -1 ||
	    sodium_hex2bin(got, sizeof got, hs->entries[i].value.base, hs->entries[i].value.len,
			   NULL, &n, &end) != 0 ||
	    n != sizeof got || end != hs->entries[i].value.base + hs->entries[i].value.len ||
	    sodium_memcmp(got, agent_secret(r->h->a), sizeof got) != 0) {
		http__reply_error(r, 403, ERR_DENIED,
				  "internal endpoint: missing or wrong X-Logos-Secret");
		return ERR_DENIED;
	}
	return 0;
}

static void propose_cb(void *arg, const struct agent_result *res)
{
	struct http_call *c = arg;
	struct http_req *r = c->r;
	json_t *j;
	char *hex;

	http__call_free(c);
	if (r == NULL || r->replied)
		return;
	j = json_object();
	hex = malloc(2 * res->result_len + 1);
	if (j == NULL || hex == NULL) {
		json_decref(j);
		free(hex);
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		return;
	}
	http_hex(res->result, res->result != NULL ? res->result_len : 0, hex);
	json_object_set_new(j, "status", json_integer(res->status));
	json_object_set_new(j, "index", json_integer((json_int_t)res->index));
	json_object_set_new(j, "code", json_integer((json_int_t)res->code));
	json_object_set_new(j, "message",
			    http__jstr(res->message != NULL ? res->message : "",
				       res->message != NULL ? res->message_len : 0));
	json_object_set_new(j, "result", json_string(hex));
	json_object_set_new(j, "leader",
			    res->leader_http != NULL
				    ? http__jstr(res->leader_http, strlen(res->leader_http))
				    : json_null());
	free(hex);
	http__reply_json(r, 200, j);
}

void api_internal_propose(struct http_req *r)
{
	struct http_call *c;
	struct cmd cmd;
	const void *body;
	char err[200];
	size_t n;
	int rv;

	if (check_secret(r) != 0)
		return;
	body = http__body(r, &n);
	if (n == 0) {
		http__reply_error(r, 400, ERR_INVALID, "propose: the body holds no command");
		return;
	}
	/* A body that is not a command is the client's fault (400, 413), with
	 * the decoder's reason, not a server error. */
	rv = cmd_decode(body, n, &cmd, err, sizeof err);
	if (rv != 0) {
		http__reply_error(r, rv == ERR_TOOBIG ? 413 : 400, rv, "propose: %s", err);
		return;
	}
	c = http__call_new(r);
	if (c == NULL)
		return;
	/* The call owns a copy: the request may go away before the result. */
	if (buf_append(&c->b1, body, n) != 0) {
		http__call_free(c);
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		return;
	}
	rv = agent_forwarded(r->h->a, c->b1.data, c->b1.len, propose_cb, c);
	if (rv != 0) {
		http__call_free(c);
		http__reply_error(r, http__status_of(rv), rv, "propose: %s", err_str(rv));
	}
}

/* A forwarded batch: the results, each encoded when it arrives, answered
 * together in order once the last is in. */
struct batch_call {
	struct http_call *c; /* c->b1: the request's body, which the commands point to */
	uint32_t n;
	uint32_t left; /* results to come, plus one while the batch is submitted */
	bool failed;   /* a result could not be encoded (out of memory) */
	struct batch_slot {
		struct batch_call *bc;
		struct buf enc; /* forward_add_result of this command's result */
	} slots[];
};

static void batch_finish(struct batch_call *bc)
{
	struct http_req *r = bc->c->r;
	struct buf out;
	uint32_t i;
	int rv;

	buf_init(&out);
	rv = forward_begin(&out);
	if (bc->failed)
		rv = ERR_NOMEM;
	for (i = 0; i < bc->n && rv == 0; i++)
		rv = buf_append(&out, bc->slots[i].enc.data, bc->slots[i].enc.len);
	if (rv == 0)
		forward_set_count(&out, bc->n);
	if (r != NULL && !r->replied) {
		if (rv != 0)
			http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		else
			http__reply_raw(r, 200, "application/octet-stream", out.data, out.len);
	}
	buf_release(&out);
	for (i = 0; i < bc->n; i++)
		buf_release(&bc->slots[i].enc);
	http__call_free(bc->c);
	free(bc);
}

static void batch_cb(void *arg, const struct agent_result *res)
{
	struct batch_slot *s = arg;
	struct batch_call *bc = s->bc;

	/* Encoded now: what the result points to is borrowed for this call. */
	if (forward_put_result(&s->enc, res) != 0)
		bc->failed = true;
	if (--bc->left == 0)
		batch_finish(bc);
}

void api_internal_propose_batch(struct http_req *r)
{
	struct forward_reader rd;
	struct batch_call *bc;
	struct http_call *c;
	struct agent *a = r->h->a;
	struct cmd cmd;
	const void *body, *p;
	char err[200];
	uint32_t i;
	size_t n, len;
	int rv;

	if (check_secret(r) != 0)
		return;
	body = http__body(r, &n);
	/* Every length and every command is checked before any is proposed: a
	 * bad batch changes nothing. */
	if (forward_cmds_open(&rd, body, n, err, sizeof err) != 0) {
		http__reply_error(r, 400, ERR_INVALID, "propose batch: %s", err);
		return;
	}
	for (i = 0; forward_cmds_next(&rd, &p, &len) == 0; i++) {
		rv = cmd_decode(p, len, &cmd, err, sizeof err);
		if (rv != 0) {
			http__reply_error(r, rv == ERR_TOOBIG ? 413 : 400, rv,
					  "propose batch: command %u of %u: %s", (unsigned)i + 1,
					  (unsigned)rd.n, err);
			return;
		}
	}
	if (!consensus_is_leader(&a->consensus)) {
		http__reply_error(r, 503, ERR_NOTLEADER, "propose batch: %s",
				  err_str(ERR_NOTLEADER));
		return;
	}
	c = http__call_new(r);
	if (c == NULL)
		return;
	bc = calloc(1, sizeof *bc + rd.n * sizeof bc->slots[0]);
	/* The call owns a copy: the request may go away before the results. */
	if (bc == NULL || buf_append(&c->b1, body, n) != 0) {
		free(bc);
		http__call_free(c);
		http__reply_error(r, 500, ERR_NOMEM, "out of memory");
		return;
	}
	bc->c = c;
	bc->n = rd.n;
	bc->left = rd.n + 1;
	forward_cmds_open(&rd, c->b1.data, c->b1.len, err, sizeof err); /* checked above */
	for (i = 0; forward_cmds_next(&rd, &p, &len) == 0; i++) {
		bc->slots[i].bc = bc;
		buf_init(&bc->slots[i].enc);
		rv = agent_forwarded(a, p, len, batch_cb, &bc->slots[i]);
		if (rv != 0) {
			/* Its callback will not fire: its result is the error. */
			struct agent_result res;
			memset(&res, 0, sizeof res);
			res.status = rv == ERR_NOTLEADER ? ERR_UNAVAILABLE : rv;
			batch_cb(&bc->slots[i], &res);
		}
	}
	if (--bc->left == 0)
		batch_finish(bc);
}

static void read_index_cb(void *arg, int status, uint64_t index)
{
	struct http_call *c = arg;
	struct http_req *r = c->r;
	json_t *j;

	http__call_free(c);
	if (r == NULL || r->replied)
		return;
	j = json_object();
	if (j != NULL) {
		json_object_set_new(j, "status", json_integer(status));
		json_object_set_new(j, "index", json_integer((json_int_t)index));
	}
	http__reply_json(r, 200, j);
}

void api_internal_read_index(struct http_req *r)
{
	struct http_call *c;
	int rv;

	if (check_secret(r) != 0)
		return;
	c = http__call_new(r);
	if (c == NULL)
		return;
	rv = agent_read_index(r->h->a, read_index_cb, c);
	if (rv != 0) {
		http__call_free(c);
		http__reply_error(r, http__status_of(rv), rv, "read index: %s", err_str(rv));
	}
}

void api_internal_heartbeat(struct http_req *r)
{
	uint64_t id;
	bool found;

	if (check_secret(r) != 0)
		return;
	if (http__query_u64(r, "id", &id, &found) != 0)
		return;
	if (!found || id == 0) {
		http__reply_error(r, 400, ERR_INVALID, "heartbeat: ?id=NODE (>= 1) is required");
		return;
	}
	agent_heartbeat(r->h->a, id);
	http__reply_raw(r, 204, NULL, NULL, 0);
}
