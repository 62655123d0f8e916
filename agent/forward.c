/*
 * A follower's forwarding of commands to the leader (DESIGN §2), the part of
 * agent/internal.h named forward__: commands wait in a queue; whenever no
 * batch is in flight, everything queued (up to CMD_BATCH_MAX commands and
 * AGENT_BATCH_BYTES) goes to the leader as one POST
 * /v1/internal/propose_batch (agent/forward.h) on one kept-alive connection
 * (agent/client.h client_conn), and the next batch when its answer arrives.
 * The leader proposes the batch's commands together and answers each
 * command's result in order.
 *
 * Each command was one request on a new TCP connection: at 15,000 writes/s
 * over three agents, some 10,000 connections a second, their CPU, and on a
 * real network TIME_WAIT running out of ephemeral ports within seconds.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "agent/client.h"
#include "agent/forward.h"
#include "agent/http.h"
#include "agent/internal.h"
#include "common/error.h"

/*
 * Bounds of a batch besides CMD_BATCH_MAX: the request must fit the leader's
 * limit on a body (HTTP_BODY_MAX; a command bigger than that alone fails
 * there, as it did forwarded alone), and the answer the connection takes:
 * results are small, but a msg.recv's carries its message (up to
 * CMD_MESSAGE_MAX), so a batch holds at most FORWARD_RECV_MAX of those.
 */
#define FORWARD_BATCH_BYTES HTTP_BODY_MAX
#define FORWARD_RECV_MAX    64
#define FORWARD_ANSWER_MAX  (256u << 20)

/* A batch in flight. */
struct fwd_batch {
	struct agent *a;
	uint32_t n;
	struct pending *cmds[];
};

static void pending_done(struct pending *p, const struct agent_result *r)
{
	p->cb(p->arg, r);
	submit__pending_free(p);
}

static void fail_queued(struct agent *a, int status, const char *leader)
{
	struct agent_impl *m = impl(a);
	struct pending *p;

	while ((p = m->fwd_queue) != NULL) {
		m->fwd_queue = p->next;
		submit__fail(p, status, leader);
	}
	m->fwd_tail = NULL;
}

/*
 * A leader that predates batches (POST /v1/internal/propose_batch is a 404
 * there: during a rolling upgrade) gets one command per request on a new
 * connection each, as before batches.
 */
static void on_forwarded_one(void *arg, int status, int http_status, const void *body, size_t len)
{
	struct pending *p = arg;
	struct agent_result r;
	json_t *j = NULL, *v;
	json_error_t jerr;
	uint8_t *result = NULL;
	size_t rlen = 0;
	const char *hexs;

	memset(&r, 0, sizeof r);
	if (status != 0 || http_status != 200 || (j = json_loadb(body, len, 0, &jerr)) == NULL) {
		if (j != NULL && json_is_string(v = json_object_get(j, "leader")))
			r.leader_http = json_string_value(v);
		r.status = status == ERR_TIMEOUT ? ERR_TIMEOUT : ERR_UNAVAILABLE;
		pending_done(p, &r);
		json_decref(j);
		return;
	}
	r.status = (int)json_integer_value(json_object_get(j, "status"));
	r.index = (uint64_t)json_integer_value(json_object_get(j, "index"));
	r.code = json_integer_value(json_object_get(j, "code"));
	if (json_is_string(v = json_object_get(j, "message"))) {
		r.message = json_string_value(v);
		r.message_len = json_string_length(v);
	}
	if (json_is_string(v = json_object_get(j, "leader")))
		r.leader_http = json_string_value(v);
	if (json_is_string(v = json_object_get(j, "result"))) {
		hexs = json_string_value(v);
		rlen = strlen(hexs) / 2;
		result = malloc(rlen + 1);
		if (result == NULL ||
		    sodium_hex2bin(result, rlen, hexs, strlen(hexs), NULL, &rlen, NULL) != 0) {
			r.status = ERR_CORRUPT;
			rlen = 0;
		}
		r.result = result;
		r.result_len = rlen;
	}
	pending_done(p, &r);
	free(result);
	json_decref(j);
}

static void forward_one(struct agent *a, struct pending *p, const char *leader)
{
	char headers[AGENT_SECRET_HEADER_LEN + 64];

	agent__secret_header(a, headers);
	strcat(headers, "Content-Type: application/octet-stream\r\n");
	if (client_request(&a->loop, leader, "POST", "/v1/internal/propose", headers, p->bytes.data,
			   p->bytes.len, AGENT_FORWARD_TIMEOUT_MS, on_forwarded_one, p) != 0)
		submit__fail(p, ERR_UNAVAILABLE, leader);
}

static void send_next(struct agent *a);

/* The leader's answer to a batch. */
static void on_answer(void *arg, int status, int http_status, const void *body, size_t len)
{
	struct fwd_batch *b = arg;
	struct agent *a = b->a;
	struct agent_impl *m = impl(a);
	struct forward_reader rd;
	struct agent_result r;
	char err[160];
	uint32_t i;

	m->fwd_inflight = false;
	if (status == 0 && http_status == 404 && !a->stopping) {
		/* Nothing was proposed: the leader predates batches. Its
		 * commands, and what follows while it leads, go one by one. */
		logger_info(&a->lg,
			    "leader %s takes no batches: forwarding one command per request",
			    m->fwd_addr);
		m->fwd_single = true;
		for (i = 0; i < b->n; i++)
			forward_one(a, b->cmds[i], m->fwd_addr);
		free(b);
		send_next(a);
		return;
	}
	if (status == 0 && http_status == 200 &&
	    forward_results_open(&rd, body, len, b->n, err, sizeof err) == 0) {
		/* Answered at once, not when this follower has applied them
		 * too: its linearizable reads wait for the leader's applied
		 * index anyway (agent_read), and waiting for the next heartbeat
		 * to carry the commit here would add its interval to every
		 * forwarded write. */
		for (i = 0; i < b->n && forward_results_next(&rd, &r) == 0; i++)
			pending_done(b->cmds[i], &r);
	} else {
		/* The outcome of every command in the batch is unknown (as
		 * that of a failed single forward was): the client retries,
		 * with its idempotency key. */
		if (status == 0)
			logger_warn(&a->lg, "forward %u commands to %s: answer %d%s%s",
				    (unsigned)b->n, m->fwd_addr, http_status,
				    http_status == 200 ? ": " : "", http_status == 200 ? err : "");
		if (status != ERR_CANCELED && status != ERR_TIMEOUT)
			status = ERR_UNAVAILABLE;
		for (i = 0; i < b->n; i++)
			submit__fail(b->cmds[i], status, submit__leader_http(a));
	}
	free(b);
	if (!a->stopping)
		send_next(a);
}

/* Sends what is queued, if nothing is in flight. */
static void send_next(struct agent *a)
{
	struct agent_impl *m = impl(a);
	char headers[AGENT_SECRET_HEADER_LEN + 64];
	struct fwd_batch *b;
	struct pending *p;
	const char *leader;
	struct buf body;
	uint32_t n, recvs;
	size_t bytes;
	int rv;

	if (m->fwd_inflight || m->fwd_queue == NULL)
		return;
	if (consensus_is_leader(&a->consensus)) {
		/* Elected while these waited: propose them here. */
		while ((p = m->fwd_queue) != NULL) {
			m->fwd_queue = p->next;
			submit__propose(a, p);
		}
		m->fwd_tail = NULL;
		return;
	}
	leader = submit__leader_http(a);
	if (leader == NULL) {
		fail_queued(a, ERR_UNAVAILABLE, NULL);
		return;
	}
	if (m->fwd_single && strcmp(leader, m->fwd_addr) == 0) {
		while ((p = m->fwd_queue) != NULL) {
			m->fwd_queue = p->next;
			forward_one(a, p, leader);
		}
		m->fwd_tail = NULL;
		return;
	}
	m->fwd_single = false;
	/* A new leader, a connection closed or idle too long: a new one. */
	if (m->fwd_conn != NULL && !client_conn_is_reusable(m->fwd_conn, leader)) {
		client_conn_release(m->fwd_conn);
		m->fwd_conn = NULL;
	}
	if (m->fwd_conn == NULL) {
		rv = client_conn_new(&a->loop, leader, FORWARD_ANSWER_MAX, &m->fwd_conn);
		if (rv != 0) {
			m->fwd_conn = NULL;
			fail_queued(a, ERR_UNAVAILABLE, leader);
			return;
		}
		snprintf(m->fwd_addr, sizeof m->fwd_addr, "%s", leader);
		a->metrics.forward_connections++;
	}

	/* Up to CMD_BATCH_MAX commands, FORWARD_BATCH_BYTES and
	 * FORWARD_RECV_MAX receives, the first whatever its size. */
	n = recvs = 0;
	bytes = FORWARD_HEAD_LEN;
	for (p = m->fwd_queue; p != NULL && n < CMD_BATCH_MAX; p = p->next) {
		if (n > 0 && (bytes + FORWARD_ITEM_LEN + p->bytes.len > FORWARD_BATCH_BYTES ||
			      (p->type == CMD_MSG_RECV && recvs == FORWARD_RECV_MAX)))
			break;
		bytes += FORWARD_ITEM_LEN + p->bytes.len;
		recvs += p->type == CMD_MSG_RECV;
		n++;
	}
	b = malloc(sizeof *b + n * sizeof(struct pending *));
	buf_init(&body);
	rv = b == NULL || buf_reserve(&body, bytes) != 0 ? ERR_NOMEM : forward_begin(&body);
	if (rv != 0) {
		free(b);
		buf_release(&body);
		fail_queued(a, ERR_NOMEM, NULL);
		return;
	}
	b->a = a;
	b->n = n;
	for (uint32_t i = 0; i < n; i++) {
		p = m->fwd_queue;
		m->fwd_queue = p->next;
		b->cmds[i] = p;
		forward_add_cmd(&body, p->bytes.data, p->bytes.len); /* reserved */
	}
	if (m->fwd_queue == NULL)
		m->fwd_tail = NULL;
	agent__secret_header(a, headers);
	strcat(headers, "Content-Type: application/octet-stream\r\n");
	rv = client_conn_request(m->fwd_conn, "POST", "/v1/internal/propose_batch", headers,
				 body.data, body.len, AGENT_FORWARD_TIMEOUT_MS, on_answer, b);
	buf_release(&body);
	if (rv != 0) {
		for (uint32_t i = 0; i < n; i++)
			submit__fail(b->cmds[i], ERR_UNAVAILABLE, leader);
		free(b);
		return;
	}
	m->fwd_inflight = true;
	a->metrics.forward_batches++;
}

static void on_fwd_flush(uv_check_t *h)
{
	struct agent *a = h->data;
	struct agent_impl *m = impl(a);

	uv_check_stop(&m->fwd_flush);
	uv_idle_stop(&m->fwd_kick);
	m->fwd_active = false;
	send_next(a);
}

/* Nothing to do: being active is its job; on_fwd_flush stops it. */
static void on_fwd_kick(uv_idle_t *h)
{
	(void)h;
}

void forward__init(struct agent *a)
{
	struct agent_impl *m = impl(a);

	uv_check_init(&a->loop, &m->fwd_flush);
	m->fwd_flush.data = a;
	uv_idle_init(&a->loop, &m->fwd_kick);
}

void forward__submit(struct pending *p)
{
	struct agent *a = p->a;
	struct agent_impl *m = impl(a);

	if (submit__leader_http(a) == NULL || consensus_is_leader(&a->consensus)) {
		submit__fail(p, ERR_UNAVAILABLE, NULL);
		return;
	}
	p->next = NULL;
	if (m->fwd_tail != NULL)
		m->fwd_tail->next = p;
	else
		m->fwd_queue = p;
	m->fwd_tail = p;
	a->metrics.forwarded++;
	if (!m->fwd_active && !m->fwd_inflight) {
		/* At the end of this loop turn (as the leader's flush, see
		 * submit.c enqueue): what arrives in the same turn goes in the
		 * same batch. */
		uv_check_start(&m->fwd_flush, on_fwd_flush);
		uv_idle_start(&m->fwd_kick, on_fwd_kick);
		m->fwd_active = true;
	}
}

void forward__close(struct agent *a)
{
	struct agent_impl *m = impl(a);
	struct client_conn *c = m->fwd_conn;

	fail_queued(a, ERR_CANCELED, NULL);
	m->fwd_conn = NULL;
	if (c != NULL)
		client_conn_release(c); /* a batch in flight: ERR_CANCELED */
	uv_close((uv_handle_t *)&m->fwd_flush, NULL);
	uv_close((uv_handle_t *)&m->fwd_kick, NULL);
}
