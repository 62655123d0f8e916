/*
 * Pure parsing helpers of the HTTP API (agent/http.h): percent-decoding,
 * query parameters, strict integers, file paths and names with the rules of
 * the command decoder (services/command.h), restart policies, signal names,
 * and JSON bodies (jansson) with unknown fields rejected. No I/O, no globals:
 * the fuzz target of the API request parser (DESIGN §7) and the unit tests
 * call them directly.
 *
 * Every function that can fail returns 0 or an error of common/error.h with a
 * message in `err` (`errlen` bytes, always NUL-terminated; `err` may be NULL).
 */
#ifndef LOGOS_AGENT_HTTP_PARSE_H
#define LOGOS_AGENT_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Decodes `n` bytes of percent-encoding into `out` (`cap` bytes; the result
 * is not NUL-terminated) and sets *outlen. '%' must be followed by two hex
 * digits; with `plus_space` (query values) '+' is a space. A decoded NUL byte
 * is rejected, since no name or path of logos may contain one. Errors:
 * ERR_INVALID (a bad escape, a NUL), ERR_TOOBIG (more than `cap` bytes).
 */
int http_pct_decode(const char *in, size_t n, bool plus_space, char *out, size_t cap,
		    size_t *outlen, char *err, size_t errlen);

/*
 * Finds parameter `name` in the query string `q` (`n` bytes, without the
 * '?'; "a=1&b&c=x"). Returns true with the raw (still encoded) value in *v
 * and *vn ("" for a parameter without '='), false if absent. The first
 * occurrence wins.
 */
bool http_query_find(const char *q, size_t n, const char *name, const char **v, size_t *vn);

/*
 * Checks that every parameter of query `q` is one of the NULL-terminated
 * `allowed` names. ERR_INVALID "unknown query parameter 'x'" otherwise.
 */
int http_query_check(const char *q, size_t n, const char *const *allowed, char *err, size_t errlen);

/*
 * Parses a decimal unsigned integer of `n` bytes: digits only (no sign, no
 * space), at least one, at most UINT64_MAX. ERR_INVALID otherwise (the
 * message names `what`).
 */
int http_u64_parse(const char *s, size_t n, const char *what, uint64_t *v, char *err,
		   size_t errlen);

/* A boolean query flag: "", "1", "true", "yes" are true; "0", "false", "no"
 * false; anything else ERR_INVALID. */
int http_bool_parse(const char *s, size_t n, const char *what, bool *v, char *err, size_t errlen);

/*
 * Checks a file path with the rules of the command decoder (CMD_PATH_MAX,
 * services/files.h): absolute, not the root, normalized (no empty, "." or
 * ".." component, no trailing '/'), no control character or NUL, and valid
 * UTF-8 (so that it can be shown in JSON). ERR_INVALID or ERR_TOOBIG.
 */
int http_path_check(const char *p, size_t n, char *err, size_t errlen);

/* Checks a queue name ([A-Za-z0-9._-], 1..CMD_QUEUE_MAX bytes) or node name
 * (1..CMD_NAME_MAX). ERR_INVALID or ERR_TOOBIG. */
int http_queue_check(const char *p, size_t n, char *err, size_t errlen);
int http_node_name_check(const char *p, size_t n, char *err, size_t errlen);

/*
 * Parses a restart policy: "no", "always", "on-failure" (unlimited restarts)
 * or "on-failure:N" with N in 1..UINT32_MAX. Sets *restart (RESTART_*) and
 * *max_restarts (0: unlimited). ERR_INVALID otherwise.
 */
int http_restart_parse(const char *s, size_t n, int *restart, uint32_t *max_restarts, char *err,
		       size_t errlen);

/* Formats a restart policy as http_restart_parse reads it ("on-failure:3"). */
void http_restart_format(int restart, uint32_t max_restarts, char *out, size_t size);

/*
 * Parses a signal: a number 1..64, or a name with or without "SIG", in any
 * case ("TERM", "sigkill", "SIGUSR1"). ERR_INVALID otherwise.
 */
int http_signal_parse(const char *s, size_t n, int *sig, char *err, size_t errlen);

/* A field of a JSON object body: its name and the JSON type it must have. */
struct http_field {
	const char *name;
	int type; /* JSON_STRING, JSON_INTEGER, JSON_OBJECT, JSON_ARRAY, or -1:
		   * checked by the caller (e.g. a number or a string) */
};

/*
 * Parses a request body of `n` bytes as one JSON object (no trailing data,
 * duplicate keys rejected, "\u0000" rejected) and checks it against `fields`
 * (`nfields` entries): an unknown field is ERR_INVALID "unknown field 'x'",
 * a field of another type ERR_INVALID "field 'x' must be a string". An empty
 * body (n == 0) is an empty object. Returns 0 with a new reference in *out.
 */
int http_json_body(const void *p, size_t n, const struct http_field *fields, size_t nfields,
		   json_t **out, char *err, size_t errlen);

/*
 * Reads a JSON string value: sets *s and *n (borrowed from `v`). ERR_INVALID
 * if `v` is not a string or holds a NUL byte (the message names `what`).
 */
int http_json_str(const json_t *v, const char *what, const char **s, size_t *n, char *err,
		  size_t errlen);

/* True if the `n` bytes at `p` are valid UTF-8. */
bool http_utf8_valid(const char *p, size_t n);

/* Lower-case hex of `n` bytes into `out` (2n+1 bytes, NUL-terminated). */
void http_hex(const void *p, size_t n, char *out);

#endif /* LOGOS_AGENT_HTTP_PARSE_H */
