/*
 * The file service: the row of services/files.h and the transitions file_put
 * and file_del of services/internal.h.
 */
#include "config.h"

#include <inttypes.h>

#include "common/error.h"
#include "common/pack.h"
#include "services/files.h"
#include "services/internal.h"

int file_row_encode(const struct file_row *r, struct buf *out)
{
	struct packer pk;
	size_t mark = out->len;

	packer_init(&pk, out);
	pack_array(&pk, 5);
	pack_uint(&pk, r->version);
	pack_uint(&pk, r->modified_index);
	pack_uint(&pk, r->modified_ms);
	pack_uint(&pk, r->data.n);
	if (pack_bin(&pk, r->data.p, r->data.n) != 0) {
		out->len = mark;
		return ERR_NOMEM;
	}
	return 0;
}

int file_row_decode(const void *val, size_t len, struct file_row *r)
{
	struct unpacker u;
	const void *data;
	uint32_t n;

	unpacker_init(&u, val, len);
	if (unpack_array(&u, &n) != 0 || n < 5 || unpack_uint(&u, &r->version) != 0 ||
	    unpack_uint(&u, &r->modified_index) != 0 || unpack_uint(&u, &r->modified_ms) != 0 ||
	    unpack_uint(&u, &r->size) != 0 || unpack_bin(&u, &data, &r->data.n) != 0)
		return ERR_CORRUPT;
	if (r->version == 0 || r->size != r->data.n)
		return ERR_CORRUPT;
	r->data.p = data;
	return 0;
}

/* The decoder validates paths fully; this cheap re-check guards the table's
 * key space against a caller that skipped it. */
static bool path_ok(struct strref path)
{
	return path.n >= 1 && path.n <= CMD_PATH_MAX && path.p[0] == '/';
}

/* Reads the file's current version into *version: 0 (found), ERR_NOTFOUND, or
 * an environmental error. */
static int file_version(const struct view *v, struct strref path, uint64_t *version)
{
	struct file_row f;
	const void *val;
	size_t vlen;
	int rv;

	rv = v->get(v, TABLE_FILES, path.p, path.n, &val, &vlen);
	if (rv != 0)
		return rv;
	rv = file_row_decode(val, vlen, &f);
	if (rv != 0)
		return rv;
	*version = f.version;
	return 0;
}

/*
 * Checks the compare-and-set condition `if_version` (-1: none; 0: must not
 * exist; V: must exist at V) against the current version (0 when `exists` is
 * false). Returns true if it holds, else rejects the command.
 */
static bool version_matches(struct outcome *o, struct strref path, int64_t if_version, bool exists,
			    uint64_t version)
{
	if (if_version == -1)
		return true;
	if (if_version == 0) {
		if (!exists)
			return true;
		outcome_reject(o, ERR_CONFLICT, "'%.*s' exists at version %" PRIu64, (int)path.n,
			       path.p, version);
		return false;
	}
	if (!exists) {
		outcome_reject(o, ERR_CONFLICT,
			       "'%.*s' does not exist (expected version %" PRId64 ")", (int)path.n,
			       path.p, if_version);
		return false;
	}
	if ((uint64_t)if_version != version) {
		outcome_reject(o, ERR_CONFLICT, "'%.*s' is at version %" PRIu64 ", not %" PRId64,
			       (int)path.n, path.p, version, if_version);
		return false;
	}
	return true;
}

/*
 * Rows are encoded at the tail of o->result because the outcome's buffers are
 * the only memory a transition may use (STYLE "Services stay pure");
 * delta_put copies them and the tail is dropped before the result is packed.
 */
int file_put(const struct view *v, const struct cmd *c, struct outcome *o)
{
	const struct cmd_file_put *p = &c->u.put;
	struct file_row f;
	uint64_t version = 0;
	size_t mark;
	bool exists;
	int rv;

	if (!path_ok(p->path))
		return outcome_reject(o, ERR_INVALID, "invalid path '%.*s': not absolute",
				      (int)p->path.n, p->path.p);
	if (p->if_version < -1)
		return outcome_reject(o, ERR_INVALID, "invalid version %" PRId64 " for '%.*s'",
				      p->if_version, (int)p->path.n, p->path.p);
	rv = file_version(v, p->path, &version);
	if (rv != 0 && rv != ERR_NOTFOUND)
		return rv;
	exists = rv == 0;
	if (!version_matches(o, p->path, p->if_version, exists, version))
		return 0;

	f.version = version + 1;
	f.modified_index = v->index;
	f.modified_ms = c->time_ms;
	f.size = p->data.n;
	f.data = p->data;
	mark = o->result.len;
	rv = file_row_encode(&f, &o->result);
	if (rv == 0)
		rv = delta_put(&o->delta, TABLE_FILES, p->path.p, p->path.n, o->result.data + mark,
			       o->result.len - mark);
	o->result.len = mark;
	if (rv != 0)
		return rv;

	pack_map(&o->pack, 1);
	pack_cstr(&o->pack, "version");
	return pack_uint(&o->pack, f.version);
}

int file_del(const struct view *v, const struct cmd *c, struct outcome *o)
{
	const struct cmd_file_del *d = &c->u.del;
	uint64_t version = 0;
	int rv;

	if (!path_ok(d->path))
		return outcome_reject(o, ERR_INVALID, "invalid path '%.*s': not absolute",
				      (int)d->path.n, d->path.p);
	if (d->if_version < -1)
		return outcome_reject(o, ERR_INVALID, "invalid version %" PRId64 " for '%.*s'",
				      d->if_version, (int)d->path.n, d->path.p);
	rv = file_version(v, d->path, &version);
	if (rv == ERR_NOTFOUND)
		return outcome_reject(o, ERR_NOTFOUND, "'%.*s' does not exist", (int)d->path.n,
				      d->path.p);
	if (rv != 0)
		return rv;
	if (!version_matches(o, d->path, d->if_version, true, version))
		return 0;

	rv = delta_del(&o->delta, TABLE_FILES, d->path.p, d->path.n);
	if (rv != 0)
		return rv;
	pack_map(&o->pack, 1);
	pack_cstr(&o->pack, "version");
	return pack_uint(&o->pack, version);
}
