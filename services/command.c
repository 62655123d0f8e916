/*
 * The command codec of services/command.h: encoding and strict decoding of
 * commands, and the framing of log entries (batches of commands).
 *
 * Every body is described once, in the table `bodies` below (field kind,
 * position in `struct cmd`, limits), and both directions are driven by it, so
 * that cmd_encode validates exactly what cmd_decode enforces and the two cannot
 * drift (DESIGN §2: the log format lives for years). Decoding never recurses:
 * the only containers are the body array and the flat argv array and env map,
 * and a container where a scalar is expected is rejected by the unpacker.
 */
#include "config.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/pack.h"
#include "services/command.h"

static const char *const type_names[CMD_TYPE_COUNT] = {
	[CMD_PROC_SUBMIT] = "proc.submit", [CMD_PROC_STARTED] = "proc.started",
	[CMD_PROC_OUTPUT] = "proc.output", [CMD_PROC_EXITED] = "proc.exited",
	[CMD_PROC_KILL] = "proc.kill",     [CMD_PROC_LOST] = "proc.lost",
	[CMD_STEP_RECORD] = "step.record", [CMD_MSG_SEND] = "msg.send",
	[CMD_MSG_RECV] = "msg.recv",       [CMD_FILE_PUT] = "file.put",
	[CMD_FILE_DEL] = "file.del",       [CMD_NODE_JOIN] = "node.join",
	[CMD_NODE_REMOVE] = "node.remove", [CMD_NODE_DRAIN] = "node.drain",
	[CMD_NODE_DOWN] = "node.down",     [CMD_NODE_UP] = "node.up",
	[CMD_NODE_ROLE] = "node.role",     [CMD_REWIND] = "rewind",
	[CMD_COMPACT] = "compact",         [CMD_NOOP] = "noop",
};

const char *cmd_type_name(uint32_t type)
{
	if (type >= CMD_TYPE_COUNT)
		return NULL;
	return type_names[type];
}

/* The kinds of body fields, by their C type and msgpack encoding. */
enum kind {
	K_U64,  /* uint64_t, msgpack uint */
	K_U32,  /* uint32_t, msgpack uint */
	K_INT,  /* int, msgpack int */
	K_I32,  /* int32_t, msgpack int */
	K_I64,  /* int64_t, msgpack int */
	K_STR,  /* struct strref, msgpack str */
	K_BIN,  /* struct binref, msgpack bin */
	K_ARGV, /* struct rawref, an array of str embedded as is */
	K_ENV   /* struct rawref, a map of str to str embedded as is */
};

/* Extra checks of a string's bytes. */
enum check {
	C_TEXT, /* no NUL */
	C_NAME, /* [A-Za-z0-9._-] (queue and node names) */
	C_PATH  /* an absolute, normalized file path */
};

struct field {
	const char *name;
	enum kind kind;
	enum check check;
	size_t off;   /* in struct cmd */
	int64_t min;  /* integers: least value; str, bin: least length */
	uint64_t max; /* integers: greatest value; str, bin: greatest length */
};

#define FIELD_MAX 9

struct body {
	uint32_t nfields;
	/* The last `noptional` fields may be absent (they decode as 0); the
	 * encoder leaves out trailing optional fields that are 0. */
	uint32_t noptional;
	struct field fields[FIELD_MAX];
	/* Rules across fields, or NULL. */
	int (*check)(const struct cmd *c, char *err, size_t errlen);
};

/* One field of union member `s`; its name in messages is the struct field's. */
/* clang-format off */
#define OFF(s, m)                offsetof(struct cmd, u.s.m)
#define U64(s, m, lo)            {#m, K_U64, C_TEXT, OFF(s, m), (lo), UINT64_MAX}
#define U32(s, m, lo)            {#m, K_U32, C_TEXT, OFF(s, m), (lo), UINT32_MAX}
#define U32R(s, m, lo, hi)       {#m, K_U32, C_TEXT, OFF(s, m), (lo), (hi)}
#define ENUM(s, m, lo, hi)       {#m, K_INT, C_TEXT, OFF(s, m), (lo), (hi)}
#define I32(s, m, lo, hi)        {#m, K_I32, C_TEXT, OFF(s, m), (lo), (hi)}
#define I64(s, m, lo)            {#m, K_I64, C_TEXT, OFF(s, m), (lo), INT64_MAX}
#define STR(s, m, check, lo, hi) {#m, K_STR, (check), OFF(s, m), (lo), (hi)}
#define BIN(s, m, lo, hi)        {#m, K_BIN, C_TEXT, OFF(s, m), (lo), (hi)}
#define RAW(s, m, kind)          {#m, (kind), C_TEXT, OFF(s, m), 0, 0}
/* clang-format on */

static int check_submit(const struct cmd *c, char *err, size_t errlen);

static const struct body bodies[CMD_TYPE_COUNT] = {
	[CMD_PROC_SUBMIT] = {.nfields = 9,
			     .noptional = 1,
			     .fields = {RAW(submit, argv, K_ARGV), RAW(submit, env, K_ENV),
					STR(submit, cwd, C_TEXT, 0, CMD_CWD_MAX),
					ENUM(submit, placement, PLACE_ANY, PLACE_ALL),
					STR(submit, node, C_NAME, 0, CMD_NAME_MAX),
					ENUM(submit, restart, RESTART_NO, RESTART_ALWAYS),
					U32(submit, max_restarts, 0), U64(submit, timeout_ms, 0),
					U32R(submit, count, 0, CMD_COUNT_MAX)},
			     .check = check_submit},
	[CMD_PROC_STARTED] = {.nfields = 3,
			      .fields = {U64(started, pid, 1), U32(started, attempt, 1),
					 U64(started, os_pid, 0)}},
	[CMD_PROC_OUTPUT] = {.nfields = 5,
			     .fields = {U64(output, pid, 1), U32(output, attempt, 1),
					ENUM(output, stream, STREAM_STDOUT, STREAM_STDERR),
					U64(output, seq, 0), BIN(output, data, 1, CMD_CHUNK_MAX)}},
	[CMD_PROC_EXITED] = {.nfields = 4,
			     .fields = {U64(exited, pid, 1), U32(exited, attempt, 1),
					I32(exited, exit_code, INT32_MIN, INT32_MAX),
					I32(exited, signal, 0, 64)}},
	[CMD_PROC_KILL] = {.nfields = 2, .fields = {U64(kill, pid, 1), I32(kill, signal, 1, 64)}},
	[CMD_PROC_LOST] = {.nfields = 3,
			   .fields = {U64(lost, pid, 1), U32(lost, attempt, 1),
				      STR(lost, reason, C_TEXT, 0, CMD_REASON_MAX)}},
	[CMD_STEP_RECORD] = {.nfields = 5,
			     .fields = {U64(step, pid, 1), U32(step, attempt, 1),
					STR(step, name, C_TEXT, 1, CMD_STEP_NAME_MAX),
					I32(step, exit_code, INT32_MIN, INT32_MAX),
					BIN(step, output, 0, CMD_STEP_OUTPUT_MAX)}},
	[CMD_MSG_SEND] = {.nfields = 2,
			  .fields = {STR(send, queue, C_NAME, 1, CMD_QUEUE_MAX),
				     BIN(send, data, 0, CMD_MESSAGE_MAX)}},
	[CMD_MSG_RECV] = {.nfields = 1, .fields = {STR(recv, queue, C_NAME, 1, CMD_QUEUE_MAX)}},
	[CMD_FILE_PUT] = {.nfields = 3,
			  .fields = {STR(put, path, C_PATH, 1, CMD_PATH_MAX),
				     BIN(put, data, 0, CMD_FILE_MAX), I64(put, if_version, -1)}},
	[CMD_FILE_DEL] = {.nfields = 2,
			  .fields = {STR(del, path, C_PATH, 1, CMD_PATH_MAX),
				     I64(del, if_version, -1)}},
	[CMD_NODE_JOIN] = {.nfields = 4,
			   .fields = {U64(join, id, 0), STR(join, name, C_NAME, 1, CMD_NAME_MAX),
				      STR(join, raft_addr, C_TEXT, 1, CMD_ADDR_MAX),
				      STR(join, http_addr, C_TEXT, 1, CMD_ADDR_MAX)}},
	[CMD_NODE_REMOVE] = {.nfields = 1, .fields = {U64(node, node, 1)}},
	[CMD_NODE_DRAIN] = {.nfields = 1, .fields = {U64(node, node, 1)}},
	[CMD_NODE_DOWN] = {.nfields = 1, .fields = {U64(node, node, 1)}},
	[CMD_NODE_UP] = {.nfields = 1, .fields = {U64(node, node, 1)}},
	[CMD_NODE_ROLE] = {.nfields = 2,
			   .fields = {U64(role, node, 1),
				      ENUM(role, role, ROLE_VOTER, ROLE_SPARE)}},
	[CMD_REWIND] = {.nfields = 1, .fields = {U64(history, target, 0)}},
	[CMD_COMPACT] = {.nfields = 1, .fields = {U64(history, target, 0)}},
	[CMD_NOOP] = {.nfields = 0},
};

#define COMMAND_FIELDS 9

/* Where a message says what is wrong: "proc.submit: " or "command: ". */
static const char *where(uint32_t type)
{
	const char *name = cmd_type_name(type);

	return name != NULL ? name : "command";
}

/* The message for a failed unpack_* of `what` (ERR_CORRUPT or ERR_INVALID). */
static int unpack_error(int rv, uint32_t type, const char *what, const char *expected, char *err,
			size_t errlen)
{
	if (rv == ERR_INVALID)
		return err_set(err, errlen, rv, "%s: %s is not %s", where(type), what, expected);
	return err_set(err, errlen, rv, "%s: %s is truncated or malformed", where(type), what);
}

/* Checks a string's length and bytes. */
static int check_str(uint32_t type, const char *what, const struct field *f, const char *s,
		     size_t n, char *err, size_t errlen)
{
	size_t i;

	if (n > f->max)
		return err_set(err, errlen, ERR_TOOBIG,
			       "%s: %s is %zu bytes, over the limit of %" PRIu64, where(type), what,
			       n, f->max);
	if (n < (uint64_t)f->min)
		return err_set(err, errlen, ERR_INVALID, "%s: %s is empty", where(type), what);
	if (n > 0 && memchr(s, '\0', n) != NULL)
		return err_set(err, errlen, ERR_INVALID, "%s: %s contains a NUL byte", where(type),
			       what);
	if (f->check == C_NAME) {
		for (i = 0; i < n; i++) {
			char ch = s[i];

			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
				return err_set(err, errlen, ERR_INVALID,
					       "%s: %s '%.*s' has a character other than "
					       "[A-Za-z0-9._-]",
					       where(type), what, (int)n, s);
		}
	} else if (f->check == C_PATH) {
		/* Absolute and normalized, so that one file has one name. */
		if (s[0] != '/')
			return err_set(err, errlen, ERR_INVALID, "%s: %s '%.*s' is not absolute",
				       where(type), what, (int)n, s);
		if (n == 1)
			return err_set(err, errlen, ERR_INVALID,
				       "%s: %s '/' is the root, not a file", where(type), what);
		for (i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)s[i];

			if (ch < 0x20 || ch == 0x7f)
				return err_set(err, errlen, ERR_INVALID,
					       "%s: %s has a control character at byte %zu",
					       where(type), what, i);
		}
		for (i = 0; i < n; i++) {
			/* s[i] == '/' starts a component that ends before the next '/'. */
			size_t j = i + 1, len;

			if (s[i] != '/')
				continue;
			while (j < n && s[j] != '/')
				j++;
			len = j - i - 1;
			if (len == 0 || (len == 1 && s[i + 1] == '.') ||
			    (len == 2 && s[i + 1] == '.' && s[i + 2] == '.'))
				return err_set(err, errlen, ERR_INVALID,
					       "%s: %s '%.*s' is not normalized (empty, '.' or "
					       "'..' component, or a trailing '/')",
					       where(type), what, (int)n, s);
		}
	}
	return 0;
}

/* Argument and variable strings: no NUL, at most CMD_ARG_MAX bytes. */
static const struct field arg_field = {"", K_STR, C_TEXT, 0, 0, CMD_ARG_MAX};

/*
 * Reads and validates the argv array or env map at the cursor (both flat: a
 * nested value is not a str and is rejected), and sets `r` to its bytes.
 */
static int scan_raw(struct unpacker *u, enum kind kind, uint32_t type, struct rawref *r, char *err,
		    size_t errlen)
{
	const uint8_t *start = u->p;
	const char *what = kind == K_ARGV ? "argv" : "env";
	char name[48];
	const char *s, *v;
	size_t n, vn;
	uint32_t count, i, j;
	int rv;

	if (kind == K_ARGV) {
		rv = unpack_array(u, &count);
		if (rv != 0)
			return unpack_error(rv, type, what, "an array", err, errlen);
		if (count == 0)
			return err_set(err, errlen, ERR_INVALID, "%s: argv is empty", where(type));
		if (count > CMD_ARGV_MAX)
			return err_set(err, errlen, ERR_TOOBIG,
				       "%s: argv has %" PRIu32 " arguments, over the limit of %d",
				       where(type), count, CMD_ARGV_MAX);
		for (i = 0; i < count; i++) {
			const struct field nonempty = {"", K_STR, C_TEXT, 0, 1, CMD_ARG_MAX};

			snprintf(name, sizeof name, "argv[%" PRIu32 "]", i);
			rv = unpack_str(u, &s, &n);
			if (rv != 0)
				return unpack_error(rv, type, name, "a string", err, errlen);
			rv = check_str(type, name, &nonempty, s, n, err, errlen);
			if (rv != 0)
				return rv;
		}
	} else {
		rv = unpack_map(u, &count);
		if (rv != 0)
			return unpack_error(rv, type, what, "a map", err, errlen);
		if (count > CMD_ENV_MAX)
			return err_set(err, errlen, ERR_TOOBIG,
				       "%s: env has %" PRIu32 " variables, over the limit of %d",
				       where(type), count, CMD_ENV_MAX);
		for (i = 0; i < count; i++) {
			const struct field name_field = {"", K_STR, C_TEXT, 0, 1, CMD_ARG_MAX};

			snprintf(name, sizeof name, "env name %" PRIu32, i);
			rv = unpack_str(u, &s, &n);
			if (rv != 0)
				return unpack_error(rv, type, name, "a string", err, errlen);
			rv = check_str(type, name, &name_field, s, n, err, errlen);
			if (rv != 0)
				return rv;
			if (memchr(s, '=', n) != NULL)
				return err_set(err, errlen, ERR_INVALID,
					       "%s: env name '%.*s' contains '='", where(type),
					       (int)(n < 64 ? n : 64), s);
			snprintf(name, sizeof name, "env value %" PRIu32, i);
			rv = unpack_str(u, &v, &vn);
			if (rv != 0)
				return unpack_error(rv, type, name, "a string", err, errlen);
			rv = check_str(type, name, &arg_field, v, vn, err, errlen);
			if (rv != 0)
				return rv;
		}
		/* A map with a name twice has no meaning; compare the names pairwise
		 * (at most CMD_ENV_MAX, over bytes already validated above). */
		for (i = 0; i < count; i++) {
			struct unpacker a;
			const char *an;
			size_t al;

			unpacker_init(&a, start, (size_t)(u->p - start));
			(void)unpack_map(&a, &j);
			for (j = 0; j <= i; j++) {
				(void)unpack_str(&a, &an, &al);
				(void)unpack_str(&a, &v, &vn);
			}
			for (j = i + 1; j < count; j++) {
				(void)unpack_str(&a, &s, &n);
				(void)unpack_str(&a, &v, &vn);
				if (n == al && memcmp(s, an, n) == 0)
					return err_set(err, errlen, ERR_INVALID,
						       "%s: env name '%.*s' appears twice",
						       where(type), (int)(n < 64 ? n : 64), s);
			}
		}
	}
	r->p = start;
	r->n = (size_t)(u->p - start);
	r->count = count;
	return 0;
}

/* Checks a decoded or given field value against its limits. */
static int check_value(uint32_t type, const struct field *f, const struct cmd *c, char *err,
		       size_t errlen)
{
	const char *p = (const char *)c + f->off;
	int64_t sv;
	uint64_t uv;

	switch (f->kind) {
	case K_U64:
		memcpy(&uv, p, sizeof uv);
		goto check_unsigned;
	case K_U32: {
		uint32_t v;

		memcpy(&v, p, sizeof v);
		uv = v;
		goto check_unsigned;
	}
	case K_INT: {
		int v;

		memcpy(&v, p, sizeof v);
		sv = v;
		goto check_signed;
	}
	case K_I32: {
		int32_t v;

		memcpy(&v, p, sizeof v);
		sv = v;
		goto check_signed;
	}
	case K_I64:
		memcpy(&sv, p, sizeof sv);
		goto check_signed;
	case K_STR: {
		struct strref s;

		memcpy(&s, p, sizeof s);
		if (s.n > 0 && s.p == NULL)
			return err_set(err, errlen, ERR_INVALID, "%s: %s has no bytes", where(type),
				       f->name);
		return check_str(type, f->name, f, s.p, s.n, err, errlen);
	}
	case K_BIN: {
		struct binref b;

		memcpy(&b, p, sizeof b);
		if (b.n > 0 && b.p == NULL)
			return err_set(err, errlen, ERR_INVALID, "%s: %s has no bytes", where(type),
				       f->name);
		if (b.n > f->max)
			return err_set(err, errlen, ERR_TOOBIG,
				       "%s: %s is %zu bytes, over the limit of %" PRIu64,
				       where(type), f->name, b.n, f->max);
		if (b.n < (uint64_t)f->min)
			return err_set(err, errlen, ERR_INVALID, "%s: %s is empty", where(type),
				       f->name);
		return 0;
	}
	case K_ARGV:
	case K_ENV:
		return 0; /* Checked by scan_raw. */
	}
	return 0;
check_unsigned:
	if (uv < (uint64_t)f->min || uv > f->max)
		return err_set(err, errlen, ERR_INVALID,
			       "%s: %s is %" PRIu64 ", out of range %" PRId64 "..%" PRIu64,
			       where(type), f->name, uv, f->min, f->max);
	return 0;
check_signed:
	if (sv < f->min || sv > (int64_t)f->max)
		return err_set(err, errlen, ERR_INVALID,
			       "%s: %s is %" PRId64 ", out of range %" PRId64 "..%" PRId64,
			       where(type), f->name, sv, f->min, (int64_t)f->max);
	return 0;
}

static int check_submit(const struct cmd *c, char *err, size_t errlen)
{
	const struct cmd_proc_submit *s = &c->u.submit;

	if (s->placement == PLACE_NODE && s->node.n == 0)
		return err_set(err, errlen, ERR_INVALID,
			       "proc.submit: placement on a node needs a node name");
	if (s->placement != PLACE_NODE && s->node.n != 0)
		return err_set(err, errlen, ERR_INVALID,
			       "proc.submit: a node name is given without placement on a node");
	if (s->count > 1 && s->placement == PLACE_ALL)
		return err_set(err, errlen, ERR_INVALID,
			       "proc.submit: count %" PRIu32
			       " needs placement on any node or on a node, not on all",
			       s->count);
	if (s->argv.n + s->env.n > CMD_ARGS_TOTAL_MAX)
		return err_set(err, errlen, ERR_TOOBIG,
			       "proc.submit: argv and env are %zu bytes, over the limit of %u",
			       s->argv.n + s->env.n, CMD_ARGS_TOTAL_MAX);
	return 0;
}

/* Reads one body field into `c` and checks it. */
static int decode_field(struct unpacker *u, uint32_t type, const struct field *f, struct cmd *c,
			char *err, size_t errlen)
{
	char *p = (char *)c + f->off;
	uint64_t uv;
	int64_t sv;
	int rv;

	switch (f->kind) {
	case K_U64:
	case K_U32:
		rv = unpack_uint(u, &uv);
		if (rv != 0)
			return unpack_error(rv, type, f->name, "an unsigned integer", err, errlen);
		if (f->kind == K_U64) {
			memcpy(p, &uv, sizeof uv);
		} else {
			uint32_t v = (uint32_t)uv;

			if (uv > UINT32_MAX)
				return err_set(err, errlen, ERR_INVALID,
					       "%s: %s is %" PRIu64 ", out of range %" PRId64
					       "..%" PRIu64,
					       where(type), f->name, uv, f->min, f->max);
			memcpy(p, &v, sizeof v);
		}
		break;
	case K_INT:
	case K_I32:
	case K_I64:
		rv = unpack_int(u, &sv);
		if (rv != 0)
			return unpack_error(rv, type, f->name, "an integer", err, errlen);
		if (sv < f->min || sv > (int64_t)f->max)
			return err_set(err, errlen, ERR_INVALID,
				       "%s: %s is %" PRId64 ", out of range %" PRId64 "..%" PRId64,
				       where(type), f->name, sv, f->min, (int64_t)f->max);
		if (f->kind == K_INT) {
			int v = (int)sv;

			memcpy(p, &v, sizeof v);
		} else if (f->kind == K_I32) {
			int32_t v = (int32_t)sv;

			memcpy(p, &v, sizeof v);
		} else {
			memcpy(p, &sv, sizeof sv);
		}
		break;
	case K_STR: {
		struct strref s;

		rv = unpack_str(u, &s.p, &s.n);
		if (rv != 0)
			return unpack_error(rv, type, f->name, "a string", err, errlen);
		memcpy(p, &s, sizeof s);
		break;
	}
	case K_BIN: {
		struct binref b;
		const void *d;

		rv = unpack_bin(u, &d, &b.n);
		if (rv != 0)
			return unpack_error(rv, type, f->name, "binary", err, errlen);
		b.p = d;
		memcpy(p, &b, sizeof b);
		break;
	}
	case K_ARGV:
	case K_ENV: {
		struct rawref r;

		rv = scan_raw(u, f->kind, type, &r, err, errlen);
		if (rv != 0)
			return rv;
		memcpy(p, &r, sizeof r);
		break;
	}
	}
	return check_value(type, f, c, err, errlen);
}

int cmd_decode(const void *buf, size_t len, struct cmd *c, char *err, size_t errlen)
{
	const struct body *body;
	struct unpacker u;
	uint32_t count, i;
	uint64_t v;
	size_t n;
	int rv;

	memset(c, 0, sizeof *c);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len > CMD_ENTRY_MAX)
		return err_set(err, errlen, ERR_TOOBIG, "command: %zu bytes, over the limit of %u",
			       len, CMD_ENTRY_MAX);
	unpacker_init(&u, buf, len);
	rv = unpack_array(&u, &count);
	if (rv != 0)
		return unpack_error(rv, 0, "command", "an array", err, errlen);
	/* The version first, so that a later format is told apart from garbage. */
	if (count == 0)
		return err_set(err, errlen, ERR_INVALID, "command: empty array");
	rv = unpack_uint(&u, &v);
	if (rv != 0)
		return unpack_error(rv, 0, "version", "an unsigned integer", err, errlen);
	if (v != CMD_VERSION)
		return err_set(err, errlen, ERR_UNSUPPORTED,
			       "command: version %" PRIu64 " is not supported (only %d)", v,
			       CMD_VERSION);
	c->version = CMD_VERSION;
	if (count != COMMAND_FIELDS)
		return err_set(err, errlen, ERR_INVALID,
			       "command: %" PRIu32 " elements, expected %d", count, COMMAND_FIELDS);
	rv = unpack_uint(&u, &v);
	if (rv != 0)
		return unpack_error(rv, 0, "type", "an unsigned integer", err, errlen);
	if (v == 0 || v >= CMD_TYPE_COUNT)
		return err_set(err, errlen, ERR_INVALID, "command: unknown type %" PRIu64, v);
	c->type = (uint32_t)v;
	body = &bodies[c->type];

	rv = unpack_uint(&u, &c->time_ms);
	if (rv != 0)
		return unpack_error(rv, c->type, "time_ms", "an unsigned integer", err, errlen);
	rv = unpack_uint(&u, &c->origin);
	if (rv != 0)
		return unpack_error(rv, c->type, "origin", "an unsigned integer", err, errlen);
	rv = unpack_uint(&u, &c->term);
	if (rv != 0)
		return unpack_error(rv, c->type, "term", "an unsigned integer", err, errlen);
	rv = unpack_uint(&u, &c->request_id);
	if (rv != 0)
		return unpack_error(rv, c->type, "request_id", "an unsigned integer", err, errlen);

	rv = unpack_str(&u, &c->principal.p, &c->principal.n);
	if (rv != 0)
		return unpack_error(rv, c->type, "principal", "a string", err, errlen);
	{
		const struct field f = {"principal", K_STR, C_TEXT, 0, 0, CMD_PRINCIPAL_MAX};

		rv = check_str(c->type, f.name, &f, c->principal.p, c->principal.n, err, errlen);
		if (rv != 0)
			return rv;
	}
	if (unpack_peek_nil(&u)) {
		(void)unpack_nil(&u);
	} else {
		const struct field f = {"key", K_STR, C_TEXT, 0, 1, CMD_KEY_MAX};

		rv = unpack_str(&u, &c->key.p, &c->key.n);
		if (rv != 0)
			return unpack_error(rv, c->type, "key", "a string or nil", err, errlen);
		rv = check_str(c->type, f.name, &f, c->key.p, c->key.n, err, errlen);
		if (rv != 0)
			return rv;
	}

	c->body.p = u.p;
	rv = unpack_array(&u, &count);
	if (rv != 0)
		return unpack_error(rv, c->type, "body", "an array", err, errlen);
	if (count > body->nfields || count < body->nfields - body->noptional) {
		if (body->noptional == 0)
			return err_set(err, errlen, ERR_INVALID,
				       "%s: body has %" PRIu32 " fields, expected %" PRIu32,
				       where(c->type), count, body->nfields);
		return err_set(err, errlen, ERR_INVALID,
			       "%s: body has %" PRIu32 " fields, expected %" PRIu32 "..%" PRIu32,
			       where(c->type), count, body->nfields - body->noptional,
			       body->nfields);
	}
	/* Optional fields left out are 0 (the union was zeroed above). */
	for (i = 0; i < count; i++) {
		rv = decode_field(&u, c->type, &body->fields[i], c, err, errlen);
		if (rv != 0)
			return rv;
	}
	c->body.n = (size_t)(u.p - c->body.p);
	if (body->check != NULL) {
		rv = body->check(c, err, errlen);
		if (rv != 0)
			return rv;
	}
	n = unpack_left(&u);
	if (n != 0)
		return err_set(err, errlen, ERR_CORRUPT, "%s: %zu trailing bytes after the command",
			       where(c->type), n);
	return 0;
}

/* Validates a command for encoding with the rules of cmd_decode. */
static int validate(const struct cmd *c)
{
	const struct field principal = {"principal", K_STR, C_TEXT, 0, 0, CMD_PRINCIPAL_MAX};
	const struct field key = {"key", K_STR, C_TEXT, 0, 1, CMD_KEY_MAX};
	const struct body *body;
	uint32_t i;
	int rv;

	if (c->version != 0 && c->version != CMD_VERSION)
		return ERR_INVALID;
	if (c->type == 0 || c->type >= CMD_TYPE_COUNT)
		return ERR_INVALID;
	if (c->principal.n > 0 && c->principal.p == NULL)
		return ERR_INVALID;
	if (check_str(c->type, "", &principal, c->principal.p, c->principal.n, NULL, 0) != 0)
		return ERR_INVALID;
	if (c->key.p != NULL && check_str(c->type, "", &key, c->key.p, c->key.n, NULL, 0) != 0)
		return ERR_INVALID;
	body = &bodies[c->type];
	for (i = 0; i < body->nfields; i++) {
		const struct field *f = &body->fields[i];

		if (f->kind == K_ARGV || f->kind == K_ENV) {
			struct rawref r, given;
			struct unpacker u;

			memcpy(&given, (const char *)c + f->off, sizeof given);
			if (given.p == NULL)
				return ERR_INVALID;
			unpacker_init(&u, given.p, given.n);
			rv = scan_raw(&u, f->kind, c->type, &r, NULL, 0);
			if (rv != 0 || unpack_left(&u) != 0 || r.count != given.count)
				return ERR_INVALID;
		} else if (check_value(c->type, f, c, NULL, 0) != 0) {
			return ERR_INVALID;
		}
	}
	if (body->check != NULL && body->check(c, NULL, 0) != 0)
		return ERR_INVALID;
	return 0;
}

/* Packs a string that may be {NULL, 0}. */
static void pack_strref(struct packer *pk, struct strref s)
{
	pack_str(pk, s.n > 0 ? s.p : "", s.n);
}

/* The fields to encode: trailing optional fields that are 0 are left out. */
static uint32_t encoded_fields(const struct cmd *c, const struct body *body)
{
	uint32_t n = body->nfields;

	while (n > body->nfields - body->noptional) {
		const struct field *f = &body->fields[n - 1];
		uint64_t v = 0;

		/* Optional fields are unsigned integers (checked in the tests). */
		if (f->kind == K_U32) {
			uint32_t x;

			memcpy(&x, (const char *)c + f->off, sizeof x);
			v = x;
		} else if (f->kind == K_U64) {
			memcpy(&v, (const char *)c + f->off, sizeof v);
		} else {
			break;
		}
		if (v != 0)
			break;
		n--;
	}
	return n;
}

int cmd_encode(const struct cmd *c, struct buf *out)
{
	const struct body *body;
	struct packer pk;
	size_t start = out->len;
	uint32_t i, nfields;
	int rv;

	rv = validate(c);
	if (rv != 0)
		return rv;
	body = &bodies[c->type];
	packer_init(&pk, out);
	pack_array(&pk, COMMAND_FIELDS);
	pack_uint(&pk, CMD_VERSION);
	pack_uint(&pk, c->type);
	pack_uint(&pk, c->time_ms);
	pack_uint(&pk, c->origin);
	pack_uint(&pk, c->term);
	pack_uint(&pk, c->request_id);
	pack_strref(&pk, c->principal);
	if (c->key.p == NULL)
		pack_nil(&pk);
	else
		pack_strref(&pk, c->key);
	nfields = encoded_fields(c, body);
	pack_array(&pk, nfields);
	for (i = 0; i < nfields; i++) {
		const struct field *f = &body->fields[i];
		const char *p = (const char *)c + f->off;

		switch (f->kind) {
		case K_U64: {
			uint64_t v;

			memcpy(&v, p, sizeof v);
			pack_uint(&pk, v);
			break;
		}
		case K_U32: {
			uint32_t v;

			memcpy(&v, p, sizeof v);
			pack_uint(&pk, v);
			break;
		}
		case K_INT: {
			int v;

			memcpy(&v, p, sizeof v);
			pack_int(&pk, v);
			break;
		}
		case K_I32: {
			int32_t v;

			memcpy(&v, p, sizeof v);
			pack_int(&pk, v);
			break;
		}
		case K_I64: {
			int64_t v;

			memcpy(&v, p, sizeof v);
			pack_int(&pk, v);
			break;
		}
		case K_STR: {
			struct strref s;

			memcpy(&s, p, sizeof s);
			pack_strref(&pk, s);
			break;
		}
		case K_BIN: {
			struct binref b;

			memcpy(&b, p, sizeof b);
			pack_bin(&pk, b.n > 0 ? (const void *)b.p : "", b.n);
			break;
		}
		case K_ARGV:
		case K_ENV: {
			struct rawref r;

			memcpy(&r, p, sizeof r);
			/* The packer writes straight into `out` (msgpack-c's packer
			 * does not buffer), so raw bytes can go in between. */
			if (pk.err == 0 && buf_append(out, r.p, r.n) != 0)
				pk.err = ERR_NOMEM;
			break;
		}
		}
	}
	if (pk.err != 0) {
		out->len = start;
		return pk.err;
	}
	return 0;
}

/*
 * Entries. The payload's array of commands has a fixed-width array32 header
 * (0xdd) so that the builder can patch the count in place at the end.
 */
#define ENTRY_PREFIX 4 /* u32 payload length */
#define ENTRY_ALIGN  8
#define ENTRY_HEADER (1 + 1 + 5) /* fixarray(2), ENTRY_VERSION, array32 */

int entry_begin(struct entry_builder *b, struct buf *out)
{
	static const uint8_t head[ENTRY_PREFIX + ENTRY_HEADER] = {
		0, 0, 0, 0, 0x92, ENTRY_VERSION, 0xdd, 0, 0, 0, 0};
	int rv;

	b->out = out;
	b->start = out->len;
	b->count_at = out->len + ENTRY_PREFIX + 2;
	b->count = 0;
	rv = buf_append(out, head, sizeof head);
	return rv;
}

int entry_add(struct entry_builder *b, const void *cmd, size_t len)
{
	uint8_t h[5];
	size_t hn, size;
	int rv;

	if (b->count >= CMD_BATCH_MAX)
		return ERR_TOOBIG;
	if (len <= UINT8_MAX) {
		h[0] = 0xc4;
		h[1] = (uint8_t)len;
		hn = 2;
	} else if (len <= UINT16_MAX) {
		h[0] = 0xc5;
		be16_put(h + 1, (uint16_t)len);
		hn = 3;
	} else {
		if (len > CMD_ENTRY_MAX)
			return ERR_TOOBIG;
		h[0] = 0xc6;
		be32_put(h + 1, (uint32_t)len);
		hn = 5;
	}
	/* The entry, once padded, must stay within CMD_ENTRY_MAX. */
	size = b->out->len - b->start + hn + len;
	if (size + ENTRY_ALIGN - 1 > CMD_ENTRY_MAX)
		return ERR_TOOBIG;
	rv = buf_reserve(b->out, hn + len);
	if (rv != 0)
		return rv;
	(void)buf_append(b->out, h, hn);
	(void)buf_append(b->out, cmd, len);
	b->count++;
	return 0;
}

int entry_finish(struct entry_builder *b)
{
	static const uint8_t zeros[ENTRY_ALIGN];
	size_t payload = b->out->len - b->start - ENTRY_PREFIX;
	size_t pad = (ENTRY_ALIGN - (b->out->len - b->start) % ENTRY_ALIGN) % ENTRY_ALIGN;

	/* An entry holds at least one command (entry_open rejects an empty one). */
	if (b->count == 0) {
		b->out->len = b->start;
		return ERR_INVALID;
	}
	be32_put(b->out->data + b->start, (uint32_t)payload);
	be32_put(b->out->data + b->count_at + 1, b->count);
	return buf_append(b->out, zeros, pad);
}

int entry_open(struct entry_reader *r, const void *buf, size_t len, char *err, size_t errlen)
{
	const uint8_t *p = buf, *first;
	struct unpacker u;
	size_t payload, i;
	uint32_t n, k;
	uint64_t version;
	const void *data;
	size_t dn;
	int rv;

	r->p = r->end = NULL;
	r->count = r->left = 0;
	if (len > CMD_ENTRY_MAX)
		return err_set(err, errlen, ERR_TOOBIG, "entry: %zu bytes, over the limit of %u",
			       len, CMD_ENTRY_MAX);
	/* libraft keeps entries in multiples of 8: with the padding under 8
	 * bytes (below), an entry has exactly one valid length. */
	if (len < ENTRY_PREFIX || len % ENTRY_ALIGN != 0)
		return err_set(err, errlen, ERR_CORRUPT,
			       "entry: %zu bytes, not a positive multiple of %d", len, ENTRY_ALIGN);
	payload = be32_get(p);
	if (payload > len - ENTRY_PREFIX)
		return err_set(err, errlen, ERR_CORRUPT,
			       "entry: payload of %zu bytes in an entry of %zu bytes", payload,
			       len);
	if (len - ENTRY_PREFIX - payload >= ENTRY_ALIGN)
		return err_set(err, errlen, ERR_CORRUPT,
			       "entry: %zu bytes after the payload, more than padding",
			       len - ENTRY_PREFIX - payload);
	for (i = ENTRY_PREFIX + payload; i < len; i++)
		if (p[i] != 0)
			return err_set(err, errlen, ERR_CORRUPT, "entry: non-zero padding");

	unpacker_init(&u, p + ENTRY_PREFIX, payload);
	if (unpack_array(&u, &n) != 0 || n == 0)
		return err_set(err, errlen, ERR_CORRUPT, "entry: payload is not an array");
	if (unpack_uint(&u, &version) != 0)
		return err_set(err, errlen, ERR_CORRUPT, "entry: no version");
	if (version != ENTRY_VERSION)
		return err_set(err, errlen, ERR_UNSUPPORTED,
			       "entry: version %" PRIu64 " is not supported (only %d)", version,
			       ENTRY_VERSION);
	if (n != 2)
		return err_set(err, errlen, ERR_CORRUPT,
			       "entry: payload has %" PRIu32 " elements, expected 2", n);
	if (unpack_array(&u, &n) != 0)
		return err_set(err, errlen, ERR_CORRUPT, "entry: no array of commands");
	if (n == 0)
		return err_set(err, errlen, ERR_CORRUPT, "entry: no commands");
	if (n > CMD_BATCH_MAX)
		return err_set(err, errlen, ERR_TOOBIG,
			       "entry: %" PRIu32 " commands, over the limit of %d", n,
			       CMD_BATCH_MAX);
	first = u.p;
	/* Frame every command now so that the entry is rejected as a whole,
	 * before any of it applies. */
	for (k = 0; k < n; k++) {
		rv = unpack_bin(&u, &data, &dn);
		if (rv != 0)
			return err_set(err, errlen, ERR_CORRUPT,
				       "entry: command %" PRIu32 " is not binary", k);
	}
	if (unpack_left(&u) != 0)
		return err_set(err, errlen, ERR_CORRUPT,
			       "entry: %zu trailing bytes after the commands", unpack_left(&u));
	r->p = first;
	r->end = u.p;
	r->count = r->left = n;
	return 0;
}

int entry_next(struct entry_reader *r, const void **cmd, size_t *len)
{
	struct unpacker u;
	int rv;

	if (r->left == 0)
		return ERR_NOTFOUND;
	unpacker_init(&u, r->p, (size_t)(r->end - r->p));
	rv = unpack_bin(&u, cmd, len);
	if (rv != 0)
		return ERR_CORRUPT;
	r->p = u.p;
	r->left--;
	return 0;
}

uint32_t entry_count(const struct entry_reader *r)
{
	return r->count;
}
