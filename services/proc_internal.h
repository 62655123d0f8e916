/*
 * What the proc and nodes services share (private to services/): the nodes
 * as a placement table that a transition changes as it goes (placing several
 * processes in one command must see its own load changes, which the view,
 * showing the state before the command, does not), and the rules that end
 * or restart an attempt (DESIGN §5).
 *
 * Memory: a nodeset lives in the outcome's `nodes` buffer (nodeset_release
 * empties it); the
 * rows it refers to are borrowed from the view, valid until the command ends.
 */
#ifndef LOGOS_SERVICES_PROC_INTERNAL_H
#define LOGOS_SERVICES_PROC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "services/nodes.h"
#include "services/proc.h"
#include "services/service.h"

struct nodeent {
	uint64_t id;
	uint32_t load;
	int state; /* NODE_STATE_* */
	bool dirty;
};

/* Every node (left ones included), in id order. */
struct nodeset {
	struct buf *ents; /* struct nodeent[], in the outcome's `nodes` buffer */
};

/* Reads the nodes table into `ns`. Returns 0, ERR_NOMEM, ERR_CORRUPT or an
 * error of the view. On error `ns` is released. */
int nodeset_load(const struct view *v, struct outcome *o, struct nodeset *ns);
void nodeset_release(struct nodeset *ns);
size_t nodeset_count(const struct nodeset *ns);
struct nodeent *nodeset_at(struct nodeset *ns, size_t i);
/* The node with this id, or NULL. */
struct nodeent *nodeset_find(struct nodeset *ns, uint64_t id);
/* The up node with the fewest pending and running processes, ties to the
 * lowest id (DESIGN §5); 0 if no node is up. */
uint64_t nodeset_least_loaded(const struct nodeset *ns);
/* Changes a node's load by +1 or -1 (no-op for node 0 or an unknown node). */
void nodeset_add_load(struct nodeset *ns, uint64_t id, int delta);
/* Sets a node's state (marks it changed). */
void nodeset_set_state(struct nodeset *ns, struct nodeent *e, int state);
/* Writes the changed nodes (state, load) into the delta, in id order.
 * Returns 0, ERR_NOMEM, ERR_CORRUPT or an error of the view. */
int nodeset_flush(const struct view *v, const struct nodeset *ns, struct outcome *o);

/* Writes a process row into the delta. 0 or ERR_NOMEM. */
int proc__put(struct outcome *o, const struct proc_row *p);

/*
 * The current attempt of `p` has just ended in p->state (exited, failed,
 * killed or lost; its node's load already taken off): restarts it if its
 * policy says so (a new attempt, pending, re-placed, EFFECT_START) or leaves
 * it ended at `now`. Changes `p` in place; does not write it.
 * Returns 0 or ERR_NOMEM.
 */
int proc__restart_or_end(struct nodeset *ns, struct outcome *o, struct proc_row *p, uint64_t now);

/* The current (pending or running) attempt of `p` is lost: marks it so,
 * takes it off its node, then restarts or ends it. Does not write `p`. */
int proc__lose(struct nodeset *ns, struct outcome *o, struct proc_row *p, uint64_t now);

/*
 * Moves the pending or running process `p` off its node (drain): the old
 * attempt is signalled SIGTERM, a new attempt is placed on the least-loaded
 * up node. Sets *moved to false (and changes nothing) if no node is up.
 * Does not write `p`. Returns 0 or ERR_NOMEM.
 */
int proc__move(struct nodeset *ns, struct outcome *o, struct proc_row *p, bool *moved);

#endif /* LOGOS_SERVICES_PROC_INTERNAL_H */
