/*
 * Pure parsing helpers of the HTTP API (agent/http_parse.h). The file path
 * and name rules repeat those of the command decoder (services/command.c) so
 * that bad input gets a clear 400 here instead of a bare "does not encode"
 * from agent_submit; the decoder stays the authority.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "agent/http_parse.h"
#include "common/error.h"
#include "services/command.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int http_pct_decode(const char *in, size_t n, bool plus_space, char *out, size_t cap,
		    size_t *outlen, char *err, size_t errlen)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = in[i];

		if (c == '%') {
			int hi, lo;

			if (n - i < 3)
				return err_set(err, errlen, ERR_INVALID,
					       "truncated percent-escape at byte %zu", i);
			hi = hexval(in[i + 1]);
			lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return err_set(err, errlen, ERR_INVALID,
					       "bad percent-escape at byte %zu", i);
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (c == '\0')
			return err_set(err, errlen, ERR_INVALID, "a NUL byte is not allowed");
		if (o == cap)
			return err_set(err, errlen, ERR_TOOBIG, "over the limit of %zu bytes", cap);
		out[o++] = c;
	}
	*outlen = o;
	return 0;
}

bool http_query_find(const char *q, size_t n, const char *name, const char **v, size_t *vn)
{
	size_t nl = strlen(name), i = 0;

	while (i < n) {
		size_t j = i, k;

		while (j < n && q[j] != '&')
			j++;
		/* [i, j) is one parameter. */
		k = i;
		while (k < j && q[k] != '=')
			k++;
		if (k - i == nl && memcmp(q + i, name, nl) == 0) {
			if (k < j) {
				*v = q + k + 1;
				*vn = j - k - 1;
			} else {
				*v = q + j;
				*vn = 0;
			}
			return true;
		}
		i = j + 1;
	}
	return false;
}

int http_query_check(const char *q, size_t n, const char *const *allowed, char *err, size_t errlen)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i, k;
		const char *const *a;

		while (j < n && q[j] != '&')
			j++;
		k = i;
		while (k < j && q[k] != '=')
			k++;
		if (k > i) {
			for (a = allowed; *a != NULL; a++)
				if (strlen(*a) == k - i && memcmp(*a, q + i, k - i) == 0)
					break;
			if (*a == NULL)
				return err_set(err, errlen, ERR_INVALID,
					       "unknown query parameter '%.*s'",
					       (int)(k - i < 64 ? k - i : 64), q + i);
		}
		i = j + 1;
	}
	return 0;
}

int http_u64_parse(const char *s, size_t n, const char *what, uint64_t *v, char *err, size_t errlen)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0)
		return err_set(err, errlen, ERR_INVALID, "%s is empty", what);
	for (i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return err_set(err, errlen, ERR_INVALID, "%s '%.*s' is not a number", what,
				       (int)(n < 32 ? n : 32), s);
		d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return err_set(err, errlen, ERR_INVALID, "%s '%.*s' is too large", what,
				       (int)(n < 32 ? n : 32), s);
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int http_bool_parse(const char *s, size_t n, const char *what, bool *v, char *err, size_t errlen)
{
	static const char *const yes[] = {"", "1", "true", "yes"};
	static const char *const no[] = {"0", "false", "no"};
	size_t i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++)
		if (strlen(yes[i]) == n && memcmp(yes[i], s, n) == 0) {
			*v = true;
			return 0;
		}
	for (i = 0; i < sizeof no / sizeof no[0]; i++)
		if (strlen(no[i]) == n && memcmp(no[i], s, n) == 0) {
			*v = false;
			return 0;
		}
	return err_set(err, errlen, ERR_INVALID, "%s '%.*s' is not 0 or 1", what,
		       (int)(n < 32 ? n : 32), s);
}

bool http_utf8_valid(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], need, k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i - 1 < need)
			return false;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF. */
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

int http_path_check(const char *s, size_t n, char *err, size_t errlen)
{
	size_t i;

	if (n == 0)
		return err_set(err, errlen, ERR_INVALID, "path is empty");
	if (n > CMD_PATH_MAX)
		return err_set(err, errlen, ERR_TOOBIG, "path is %zu bytes, over the limit of %d",
			       n, CMD_PATH_MAX);
	if (s[0] != '/')
		return err_set(err, errlen, ERR_INVALID, "path '%.*s' is not absolute", (int)n, s);
	if (n == 1)
		return err_set(err, errlen, ERR_INVALID, "path '/' is the root, not a file");
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f)
			return err_set(err, errlen, ERR_INVALID,
				       "path has a control character or NUL at byte %zu", i);
	}
	if (!http_utf8_valid(s, n))
		return err_set(err, errlen, ERR_INVALID, "path is not valid UTF-8");
	for (i = 0; i < n; i++) {
		size_t j = i + 1, len;

		if (s[i] != '/')
			continue;
		while (j < n && s[j] != '/')
			j++;
		len = j - i - 1;
		if (len == 0 || (len == 1 && s[i + 1] == '.') ||
		    (len == 2 && s[i + 1] == '.' && s[i + 2] == '.'))
			return err_set(err, errlen, ERR_INVALID,
				       "path '%.*s' is not normalized (empty, '.' or '..' "
				       "component, or a trailing '/')",
				       (int)n, s);
	}
	return 0;
}

static int name_check(const char *what, size_t max, const char *p, size_t n, char *err,
		      size_t errlen)
{
	size_t i;

	if (n == 0)
		return err_set(err, errlen, ERR_INVALID, "%s is empty", what);
	if (n > max)
		return err_set(err, errlen, ERR_TOOBIG, "%s is %zu bytes, over the limit of %zu",
			       what, n, max);
	for (i = 0; i < n; i++) {
		char ch = p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return err_set(err, errlen, ERR_INVALID,
				       "%s has a character other than [A-Za-z0-9._-] at byte %zu",
				       what, i);
	}
	return 0;
}

int http_queue_check(const char *p, size_t n, char *err, size_t errlen)
{
	return name_check("queue name", CMD_QUEUE_MAX, p, n, err, errlen);
}

int http_node_name_check(const char *p, size_t n, char *err, size_t errlen)
{
	return name_check("node name", CMD_NAME_MAX, p, n, err, errlen);
}

static bool is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

int http_restart_parse(const char *s, size_t n, int *restart, uint32_t *max_restarts, char *err,
		       size_t errlen)
{
	static const char of[] = "on-failure";
	const size_t ofn = sizeof of - 1;
	uint64_t v;

	if (is(s, n, "no")) {
		*restart = RESTART_NO;
		*max_restarts = 0;
		return 0;
	}
	if (is(s, n, "always")) {
		*restart = RESTART_ALWAYS;
		*max_restarts = 0;
		return 0;
	}
	if (is(s, n, of)) {
		*restart = RESTART_ON_FAILURE;
		*max_restarts = 0;
		return 0;
	}
	if (n > ofn + 1 && memcmp(s, of, ofn) == 0 && s[ofn] == ':' &&
	    http_u64_parse(s + ofn + 1, n - ofn - 1, "restarts", &v, NULL, 0) == 0 && v >= 1 &&
	    v <= UINT32_MAX) {
		*restart = RESTART_ON_FAILURE;
		*max_restarts = (uint32_t)v;
		return 0;
	}
	return err_set(err, errlen, ERR_INVALID,
		       "restart policy '%.*s' is not no, always, on-failure or on-failure:N "
		       "(N >= 1)",
		       (int)(n < 64 ? n : 64), s);
}

void http_restart_format(int restart, uint32_t max_restarts, char *out, size_t size)
{
	if (restart == RESTART_ALWAYS)
		snprintf(out, size, "always");
	else if (restart == RESTART_ON_FAILURE && max_restarts > 0)
		snprintf(out, size, "on-failure:%" PRIu32, max_restarts);
	else if (restart == RESTART_ON_FAILURE)
		snprintf(out, size, "on-failure");
	else
		snprintf(out, size, "no");
}

int http_signal_parse(const char *s, size_t n, int *sig, char *err, size_t errlen)
{
	/* Linux numbering, which every host of a cluster shares. */
	static const struct {
		const char *name;
		int sig;
	} names[] = {
		{"HUP", 1},   {"INT", 2},    {"QUIT", 3},  {"ILL", 4},   {"TRAP", 5},
		{"ABRT", 6},  {"BUS", 7},    {"FPE", 8},   {"KILL", 9},  {"USR1", 10},
		{"SEGV", 11}, {"USR2", 12},  {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15},
		{"CHLD", 17}, {"CONT", 18},  {"STOP", 19}, {"TSTP", 20}, {"TTIN", 21},
		{"TTOU", 22}, {"URG", 23},   {"XCPU", 24}, {"XFSZ", 25}, {"VTALRM", 26},
		{"PROF", 27}, {"WINCH", 28}, {"IO", 29},   {"PWR", 30},  {"SYS", 31},
	};
	uint64_t v;
	size_t i;

	if (n > 0 && s[0] >= '0' && s[0] <= '9') {
		if (http_u64_parse(s, n, "signal", &v, NULL, 0) == 0 && v >= 1 && v <= 64) {
			*sig = (int)v;
			return 0;
		}
	} else {
		if (n > 3 && strncasecmp(s, "SIG", 3) == 0) {
			s += 3;
			n -= 3;
		}
		for (i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strlen(names[i].name) == n && strncasecmp(names[i].name, s, n) == 0) {
				*sig = names[i].sig;
				return 0;
			}
	}
	return err_set(err, errlen, ERR_INVALID,
		       "signal '%.*s' is not a number 1..64 or a signal name such as TERM",
		       (int)(n < 32 ? n : 32), s);
}

static const char *type_name(int type)
{
	switch (type) {
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	default:
		return "of another type";
	}
}

int http_json_body(const void *p, size_t n, const struct http_field *fields, size_t nfields,
		   json_t **out, char *err, size_t errlen)
{
	json_error_t je;
	const char *key;
	json_t *j, *v;
	size_t i;

	if (n == 0) {
		j = json_object();
		if (j == NULL)
			return err_set(err, errlen, ERR_NOMEM, "out of memory");
		*out = j;
		return 0;
	}
	j = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		return err_set(err, errlen, ERR_INVALID, "malformed JSON at byte %d: %s",
			       je.position, je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(err, errlen, ERR_INVALID, "the body is not a JSON object");
	}
	json_object_foreach(j, key, v)
	{
		for (i = 0; i < nfields; i++)
			if (strcmp(fields[i].name, key) == 0)
				break;
		if (i == nfields) {
			err_set(err, errlen, ERR_INVALID, "unknown field '%.64s'", key);
			json_decref(j);
			return ERR_INVALID;
		}
		if (fields[i].type >= 0 && (int)json_typeof(v) != fields[i].type) {
			err_set(err, errlen, ERR_INVALID, "field '%s' must be %s", key,
				type_name(fields[i].type));
			json_decref(j);
			return ERR_INVALID;
		}
	}
	*out = j;
	return 0;
}

int http_json_str(const json_t *v, const char *what, const char **s, size_t *n, char *err,
		  size_t errlen)
{
	if (!json_is_string(v))
		return err_set(err, errlen, ERR_INVALID, "%s must be a string", what);
	*s = json_string_value(v);
	*n = json_string_length(v);
	if (strlen(*s) != *n)
		return err_set(err, errlen, ERR_INVALID, "%s contains a NUL byte", what);
	return 0;
}

void http_hex(const void *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}
