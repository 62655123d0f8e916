/*
 * The shell's HTTP client: one agent, libcurl underneath, jansson for the
 * JSON API of DESIGN §6. It maps transport failures and API errors to the
 * messages and exit codes the shell shows (DESIGN §1: "honest exit codes"):
 * every function that can fail has already printed "logos: ..." to stderr by
 * the time it returns a non-zero exit code, so commands just pass it on.
 *
 * Not thread-safe; one struct client per thread. Single-threaded use only.
 */
#ifndef LOGOS_SHELL_CLIENT_H
#define LOGOS_SHELL_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

/* Exit codes (DESIGN §1; see docs/logos.1 EXIT STATUS). */
#define EXIT_OK          0
#define EXIT_FAIL        1   /* an error: the agent, the API, a file */
#define EXIT_USAGE       2   /* a usage error */
#define EXIT_INTERRUPTED 130 /* Ctrl-C */

#define ADDR_DEFAULT "http://127.0.0.1:7700"

/*
 * The count of SIGINTs received since the last client_interrupt_reset. It is
 * the one global of the shell: a signal handler can only talk to the program
 * through one. Requests in flight are abandoned as soon as it is non-zero
 * (the command then returns EXIT_INTERRUPTED), except the streams of `run`,
 * which handle Ctrl-C themselves.
 */
extern volatile sig_atomic_t client_interrupted;
void client_interrupt_reset(void);

struct client {
	char base[512]; /* "http://host:port", no trailing '/' */
	long timeout_s; /* per request, unless a call gives its own */
	char at[24];    /* "" or a log index: GETs are read as of it */
	CURL *easy;     /* reused: keeps the connection alive */
	char errbuf[CURL_ERROR_SIZE];
};

/* A reply: status, body (malloc'd, NUL-terminated for convenience), and the
 * X-Logos-* headers the shell uses ("" when absent). */
struct reply {
	long status;
	char *body;
	size_t len;
	char version[24];
	char index[24];
	char seq[24];
	char attempt[24];
};

/*
 * Sets up `c` for the agent at `addr` ("http://h:p", "https://h:p" or
 * "h:p"; NULL: ADDR_DEFAULT). Returns 0, or EXIT_USAGE for an address that
 * is not one (message printed), EXIT_FAIL if libcurl cannot start.
 */
int client_init(struct client *c, const char *addr, long timeout_s);
void client_close(struct client *c);

/*
 * One request. `path` starts with "/v1/..." and may carry a query; c->at is
 * added to GETs. `body` (`n` bytes, may be NULL) is sent with content type
 * `ctype`; `idem_key` (may be NULL) as the Idempotency-Key header;
 * `timeout_s` < 0 uses c->timeout_s, 0 means none (long polls). On 0 `r`
 * holds the reply, whatever its HTTP status (release it with reply_free).
 * Errors (printed): EXIT_FAIL when the agent cannot be reached or the
 * request failed in transit, EXIT_INTERRUPTED on Ctrl-C.
 */
int client_request(struct client *c, const char *method, const char *path, const void *body,
		   size_t n, const char *ctype, const char *idem_key, long timeout_s,
		   struct reply *r);

/*
 * A JSON request: `body` (borrowed; NULL for none) is sent as JSON, a 2xx
 * reply is parsed into *out (new reference). Returns 0, or an exit code
 * after printing: the API's message for a 4xx/5xx, EXIT_FAIL for a reply
 * that is not JSON, or the errors of client_request.
 */
int client_json(struct client *c, const char *method, const char *path, json_t *body, json_t **out);

/* Prints the error of a non-2xx reply ("logos: <message>") and returns
 * EXIT_FAIL. */
int client_api_error(const struct client *c, const struct reply *r);

void reply_free(struct reply *r);

/* Percent-encodes `s` for a URL path (keeping '/' if `keep_slash`) or a
 * query value. Returns a malloc'd string, or NULL if out of memory. */
char *url_escape(const char *s, bool keep_slash);

/* Base64 (RFC 4648 with padding), the encoding of step output in JSON.
 * b64_encode returns a malloc'd NUL-terminated string or NULL;
 * b64_decode returns a malloc'd buffer of *outlen bytes, or NULL if `s` is
 * not base64 or out of memory. */
char *b64_encode(const void *p, size_t n);
void *b64_decode(const char *s, size_t n, size_t *outlen);

#endif /* LOGOS_SHELL_CLIENT_H */
