/*
 * What the files of consensus/ share: the FSM adapter (fsm.c) and the
 * translation of raft's error codes into the project's (consensus.c).
 */
#ifndef LOGOS_CONSENSUS_INTERNAL_H
#define LOGOS_CONSENSUS_INTERNAL_H

#include "consensus/consensus.h"

/* Fills c->fsm (version 1) to drive c->cfg.sm. */
void consensus__fsm_init(struct consensus *c);

/* The ERR_* code for a raft error code (RAFT_*). */
int consensus__raft_err(const struct consensus *c, int rv);

#endif /* LOGOS_CONSENSUS_INTERNAL_H */
