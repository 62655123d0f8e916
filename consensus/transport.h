/*
 * Our raft_uv transport (struct raft_uv_transport, raft/uv.h): TCP with
 * TCP_NODELAY on every connection (raft's built-in transport never sets it),
 * and a mutual handshake proving knowledge of the cluster secret before any
 * byte reaches raft. A peer without the secret is dropped and logged.
 *
 * Handshake (A accepts, C connects; all integers big-endian; MAC =
 * HMAC-SHA-256 keyed with the 32-byte cluster secret, libsodium
 * crypto_auth_hmacsha256):
 *   1. A → C  "LGS1" | nonceA[32]
 *   2. C → A  "LGS1" | nonceC[32] | id u64 | addr_len u16 | addr | macC[32]
 *             macC = MAC("logos-connect" | nonceA | nonceC | id | addr)
 *   3. A → C  macA[32], macA = MAC("logos-accept" | nonceC | nonceA)
 * Then the stream belongs to raft: A passes it to raft's accept callback with
 * (id, addr), C to the connect callback. Limits: addr_len ≤ 255, the whole
 * handshake within TRANSPORT_HANDSHAKE_MS, at most TRANSPORT_PENDING_MAX
 * handshakes in progress; any violation closes the connection.
 */
#ifndef LOGOS_CONSENSUS_TRANSPORT_H
#define LOGOS_CONSENSUS_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "common/log.h"

#define TRANSPORT_SECRET_LEN   32
#define TRANSPORT_HANDSHAKE_MS 5000
#define TRANSPORT_PENDING_MAX  64

struct transport {
	struct raft_uv_transport raft; /* What raft_uv_init takes. Must stay first. */
	uv_loop_t *loop;
	uint8_t secret[TRANSPORT_SECRET_LEN];
	struct logger *lg;
	uint64_t id;
	char address[64];
	uv_tcp_t listener;
	bool listening;
	raft_uv_accept_cb accept_cb;
	void *pending;     /* handshakes in progress (both directions) */
	unsigned npending; /* TRANSPORT_PENDING_MAX applies to incoming ones */
	uint64_t rejected; /* peers dropped for a failed handshake (metrics, tests) */
	bool closing;
	raft_uv_transport_close_cb close_cb;
	unsigned handshake_ms; /* TRANSPORT_HANDSHAKE_MS; tests shorten it */
};

/*
 * Sets up `t` (version 1, methods filled in) on `loop`. `secret` is copied;
 * `lg` borrowed. Returns 0 or ERR_INVALID. Give `&t->raft` to raft_uv_init:
 * raft calls init, listen, connect and close. Only the listen address given
 * to raft (numeric IPv4 "IP:PORT") is supported, for peers too.
 *
 * Streams handed to raft are raft_malloc'd uv_tcp_t (raft uv_close()s them
 * and raft_free()s them). A connect request that does not pass the handshake
 * completes with RAFT_NOCONNECTION, or RAFT_CANCELED once close started.
 * close stops listening, fails every handshake in progress and fires its
 * callback when all handles are closed; the memory of `t` is reusable then.
 */
int transport_init(struct transport *t, uv_loop_t *loop, const uint8_t *secret, struct logger *lg);

#endif /* LOGOS_CONSENSUS_TRANSPORT_H */
