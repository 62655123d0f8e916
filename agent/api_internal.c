/*
 * The internal endpoints between agents (protocol in agent/http_internal.h):
 * a follower forwards a command to the leader, asks it for a read index, and
 * sends it heartbeats. Every one requires the cluster secret in the header
 * X-Logos-Secret, compared in constant time.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

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
