/*
 * The history service (DESIGN §4.2, §5): rewind and compact. Both are
 * validated here against the readable range and carried out by the state
 * store, which owns the history.
 */
#include "config.h"

#include "common/error.h"
#include "services/internal.h"

int history_rewind(const struct view *v, const struct cmd *c, struct outcome *o)
{
	uint64_t target = c->u.history.target;

	if (target < v->oldest || target >= v->index)
		return outcome_reject(o, ERR_RANGE,
				      "cannot rewind to index %llu: the readable range is "
				      "%llu..%llu",
				      (unsigned long long)target, (unsigned long long)v->oldest,
				      (unsigned long long)(v->index - 1));
	pack_map(&o->pack, 1);
	pack_cstr(&o->pack, "target");
	pack_uint(&o->pack, target);
	return delta_rewind(&o->delta, target);
}

int history_compact(const struct view *v, const struct cmd *c, struct outcome *o)
{
	uint64_t target = c->u.history.target;

	if (target >= v->index)
		return outcome_reject(o, ERR_RANGE,
				      "cannot compact to index %llu: not below the current index "
				      "%llu",
				      (unsigned long long)target, (unsigned long long)v->index);
	if (target < v->oldest)
		target = v->oldest; /* Already compacted further: a no-op. */
	pack_map(&o->pack, 1);
	pack_cstr(&o->pack, "oldest");
	pack_uint(&o->pack, target);
	return delta_compact(&o->delta, target);
}
