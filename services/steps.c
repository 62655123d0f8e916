/*
 * The step service: the row of services/steps.h and the transition
 * step_record of services/internal.h.
 */
#include "config.h"

#include <string.h>

#include "common/error.h"
#include "common/pack.h"
#include "services/internal.h"
#include "services/proc.h"
#include "services/steps.h"

int step_row_encode(const struct step_row *r, struct buf *out)
{
	struct packer pk;
	size_t mark = out->len;

	packer_init(&pk, out);
	pack_array(&pk, 4);
	pack_int(&pk, r->exit_code);
	pack_bin(&pk, r->output.p, r->output.n);
	pack_uint(&pk, r->attempt);
	if (pack_uint(&pk, r->recorded_ms) != 0) {
		out->len = mark;
		return ERR_NOMEM;
	}
	return 0;
}

int step_row_decode(const void *val, size_t len, struct step_row *r)
{
	struct unpacker u;
	const void *output;
	int64_t code;
	uint64_t attempt;
	uint32_t n;

	unpacker_init(&u, val, len);
	if (unpack_array(&u, &n) != 0 || n < 4 || unpack_int(&u, &code) != 0 ||
	    unpack_bin(&u, &output, &r->output.n) != 0 || unpack_uint(&u, &attempt) != 0 ||
	    unpack_uint(&u, &r->recorded_ms) != 0)
		return ERR_CORRUPT;
	if (code < INT32_MIN || code > INT32_MAX || attempt > UINT32_MAX)
		return ERR_CORRUPT;
	r->exit_code = (int32_t)code;
	r->output.p = output;
	r->attempt = (uint32_t)attempt;
	return 0;
}

size_t step_key(uint8_t *out, uint64_t pid, const char *name, size_t n)
{
	be64_put(out, pid);
	memcpy(out + 8, name, n);
	return 8 + n;
}

int step_key_decode(const void *key, size_t klen, uint64_t *pid, struct strref *name)
{
	const uint8_t *k = key;

	if (klen < 8 + 1)
		return ERR_CORRUPT;
	*pid = be64_get(k);
	name->p = (const char *)k + 8;
	name->n = klen - 8;
	return 0;
}

/*
 * Records a step's outcome, first record wins (DESIGN §5): a step that already
 * has a row is accepted without change and answered with the recorded
 * outcome, which is what a restarted attempt must replay. The process only
 * has to exist; its row belongs to the proc service, so only its key is read.
 */
int step_record(const struct view *v, const struct cmd *c, struct outcome *o)
{
	const struct cmd_step_record *s = &c->u.step;
	struct step_row row;
	uint8_t pkey[PROC_KEY_LEN], key[STEP_KEY_MAX];
	const void *val;
	size_t klen, vlen, mark;
	int rv;

	if (s->name.n < 1 || s->name.n > CMD_STEP_NAME_MAX)
		return outcome_reject(o, ERR_INVALID, "invalid step name '%.*s' for process %llu",
				      (int)s->name.n, s->name.p, (unsigned long long)s->pid);
	proc_key(pkey, s->pid);
	rv = v->get(v, TABLE_PROCS, pkey, sizeof pkey, &val, &vlen);
	if (rv == ERR_NOTFOUND)
		return outcome_reject(o, ERR_NOTFOUND, "no process %llu",
				      (unsigned long long)s->pid);
	if (rv != 0)
		return rv;

	klen = step_key(key, s->pid, s->name.p, s->name.n);
	rv = v->get(v, TABLE_STEPS, key, klen, &val, &vlen);
	if (rv == 0) {
		rv = step_row_decode(val, vlen, &row);
		if (rv != 0)
			return rv;
		pack_map(&o->pack, 4);
		pack_cstr(&o->pack, "exit_code");
		pack_int(&o->pack, row.exit_code);
		pack_cstr(&o->pack, "output");
		pack_bin(&o->pack, row.output.p, row.output.n);
		pack_cstr(&o->pack, "attempt");
		pack_uint(&o->pack, row.attempt);
		pack_cstr(&o->pack, "replayed");
		return pack_bool(&o->pack, true);
	}
	if (rv != ERR_NOTFOUND)
		return rv;

	row.exit_code = s->exit_code;
	row.output = s->output;
	row.attempt = s->attempt;
	row.recorded_ms = c->time_ms;
	/* Encoded at the tail of o->result, the only memory a transition may
	 * use (STYLE "Services stay pure"); delta_put copies it, then the tail
	 * is dropped before the result is packed. */
	mark = o->result.len;
	rv = step_row_encode(&row, &o->result);
	if (rv == 0)
		rv = delta_put(&o->delta, TABLE_STEPS, key, klen, o->result.data + mark,
			       o->result.len - mark);
	o->result.len = mark;
	if (rv != 0)
		return rv;
	pack_map(&o->pack, 1);
	pack_cstr(&o->pack, "replayed");
	return pack_bool(&o->pack, false);
}
