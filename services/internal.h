/*
 * The transitions of every service, as dispatched by service_apply(). Each has
 * the contract of a transition (services/service.h): it reads `v`, fills `o`,
 * returns 0 (accepted, or rejected through outcome_reject) or an environmental
 * error.
 */
#ifndef LOGOS_SERVICES_INTERNAL_H
#define LOGOS_SERVICES_INTERNAL_H

#include "services/service.h"

typedef int (*transition_fn)(const struct view *v, const struct cmd *c, struct outcome *o);

int proc_submit(const struct view *v, const struct cmd *c, struct outcome *o);
int proc_started(const struct view *v, const struct cmd *c, struct outcome *o);
int proc_output(const struct view *v, const struct cmd *c, struct outcome *o);
int proc_exited(const struct view *v, const struct cmd *c, struct outcome *o);
int proc_kill(const struct view *v, const struct cmd *c, struct outcome *o);
int proc_lost(const struct view *v, const struct cmd *c, struct outcome *o);
int step_record(const struct view *v, const struct cmd *c, struct outcome *o);
int msg_send(const struct view *v, const struct cmd *c, struct outcome *o);
int msg_recv(const struct view *v, const struct cmd *c, struct outcome *o);
int file_put(const struct view *v, const struct cmd *c, struct outcome *o);
int file_del(const struct view *v, const struct cmd *c, struct outcome *o);
int node_join(const struct view *v, const struct cmd *c, struct outcome *o);
int node_remove(const struct view *v, const struct cmd *c, struct outcome *o);
int node_drain(const struct view *v, const struct cmd *c, struct outcome *o);
int node_down(const struct view *v, const struct cmd *c, struct outcome *o);
int node_up(const struct view *v, const struct cmd *c, struct outcome *o);
int node_role(const struct view *v, const struct cmd *c, struct outcome *o);
int history_rewind(const struct view *v, const struct cmd *c, struct outcome *o);
int history_compact(const struct view *v, const struct cmd *c, struct outcome *o);

#endif /* LOGOS_SERVICES_INTERNAL_H */
