/*
 * synq, the command-line client: shared declarations.
 *
 * Model: one process runs one subcommand over one blocking TCP connection to
 * a beanstalkd-protocol server (synqd or beanstalkd). Every function that can
 * fail reports the failure itself, once, on stderr (naming the server address
 * and what was being done), and returns the process exit code to use:
 *
 *   CLI_OK    0  success
 *   CLI_NO    1  the server said no (NOT_FOUND, TIMED_OUT, DRAINING, ...)
 *   CLI_USAGE 2  bad command line
 *   CLI_FAIL  3  connection or protocol error (refused, closed, timed out,
 *                a reply the protocol does not allow)
 *
 * so callers just `if ((rc = ...)) return rc;`. Nothing here is thread-safe;
 * the CLI is single-threaded.
 */
#ifndef SYNQ_CLI_H
#define SYNQ_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "login.h"
#include "synq/version.h"

#define CLI_VERSION SYNQ_VERSION

enum { CLI_OK = 0, CLI_NO = 1, CLI_USAGE = 2, CLI_FAIL = 3 };

/* Longest reply line we accept; beanstalkd's longest is far shorter, so a
 * longer one means we are not talking to a beanstalkd-protocol server. */
#define CLI_MAX_LINE_BYTES 4096
/* Largest body (job or YAML) we accept: a sanity bound, not a protocol one. */
#define CLI_MAX_BODY_BYTES ((size_t)1 << 30)

typedef struct cli {
    /* Settings from the global options and the environment. */
    const char *host;
    const char *port;
    double timeout_s; /* connect and per-reply timeout */
    bool json;
    bool verbose;
    /* --user: "auth USER PASSWORD\r\n" (login.h), sent first on every connection;
     * user NULL: none is sent. */
    const char *user;
    char auth_line[LOGIN_LINE_MAX + 1];
    size_t auth_len;
    /* Errors: cli_err() keeps the last one here and, unless keep_errors is
     * set (top, while it owns the screen), also prints it on stderr. */
    bool keep_errors;
    char last_error[512];
    /* The connection; fd < 0 until cli_connect(). */
    int fd;
    char addr[320]; /* "host:port", for messages */
    char *rbuf;     /* receive buffer: bytes [rstart, rend) are unread */
    size_t rcap, rstart, rend;
} cli;

/* One parsed YAML reply: a dict (key/val pairs) or a list (key NULL). All
 * strings are owned by the struct; release with cli_yaml_free(). */
typedef struct cli_kv {
    char *key;
    char *val;
} cli_kv;

typedef struct cli_yaml {
    cli_kv *items;
    size_t n;
} cli_yaml;

/* A job as returned by reserve, reserve-job or peek*. body is NUL-terminated
 * for convenience but may contain NULs; len is authoritative. */
typedef struct cli_job {
    uint64_t id;
    char *body;
    size_t len;
} cli_job;

/* --- conn.c: connection and requests ----------------------------------- */

/* Reports a failure: "synq: " + the formatted text on stderr (a trailing
 * newline in fmt is optional), and keeps the text in c->last_error. */
void cli_err(cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Connects to c->host:c->port within c->timeout_s and, with --user, logs in
 * (auth) before anything else. Returns CLI_OK, or CLI_FAIL after printing
 * "synq: cannot connect to HOST:PORT: REASON", or after a refused login
 * CLI_NO (BAD_AUTH) or CLI_FAIL (a server that has no auth), explained. */
int cli_connect(cli *c);
/* Closes the connection (if open) and frees the receive buffer. */
void cli_close(cli *c);

/* Sends len bytes. Returns CLI_OK or CLI_FAIL (message printed). */
int cli_send(cli *c, const void *buf, size_t len);
/* Formats one command line, appends CRLF and sends it. */
int cli_sendf(cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads one reply line (CRLF stripped, NUL-terminated). *line points into
 * the receive buffer and stays valid until the next read call. extra_ms is
 * added to the timeout (for reserve-with-timeout); extra_ms < 0 waits
 * forever (for a plain reserve). Returns CLI_OK or CLI_FAIL. */
int cli_read_line(cli *c, char **line, int extra_ms);
/* Reads exactly n bytes followed by CRLF; *data points into the receive
 * buffer (valid until the next read call) and is NUL-terminated. */
int cli_read_body(cli *c, size_t n, char **data);

/* Reports an unexpected reply line `got` to request `what`: the server's
 * "no" words (NOT_FOUND, TIMED_OUT, ...) print a plain explanation and give
 * CLI_NO; anything else is a protocol error, CLI_FAIL. */
int cli_reply_error(cli *c, const char *what, const char *got);

/* Sends the line built from fmt, reads the reply and requires it to start
 * with the word `want` (followed by end of line or a space). On success *rest
 * (if non-NULL) points at what follows the word (in the receive buffer, valid
 * until the next read). Otherwise reports through cli_reply_error(). */
int cli_request(cli *c, const char *what, const char *want, char **rest, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Sends the line built from fmt, requires "OK <n>" and parses the YAML body
 * into *out (caller frees with cli_yaml_free). */
int cli_yaml_request(cli *c, const char *what, cli_yaml *out, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cli_yaml_free(cli_yaml *y);
/* The value of key in a dict, or NULL. */
const char *cli_yaml_get(const cli_yaml *y, const char *key);
/* Parses beanstalkd's flat YAML text (n bytes). Returns 0 or -1 (malformed). */
int cli_yaml_parse(const char *text, size_t n, cli_yaml *out);

/* Reads a job reply "<word> <id> <bytes>\r\n<body>\r\n" whose first line is
 * already in `line` (as returned by cli_read_line), copying the body into
 * job (caller frees job->body). A different word goes to cli_reply_error. */
int cli_read_job(cli *c, const char *what, const char *word, char *line, cli_job *job);

/* "use TUBE" (skipped when tube is NULL). */
int cli_use(cli *c, const char *tube);
/* Watches each of the n tubes and ignores "default" unless it is one of them. */
int cli_watch_only(cli *c, char **tubes, size_t n);

/* --- out.c: output helpers --------------------------------------------- */

/* Writes s (n bytes) as a JSON string, escaping control characters and
 * replacing bytes that are not valid UTF-8 with \u00XX (their Latin-1 code
 * point) so the output always parses. */
void out_json_str(FILE *f, const char *s, size_t n);
/* Writes a YAML scalar as JSON: integers and decimals as numbers,
 * true/false as booleans, anything else as a string (surrounding double
 * quotes dropped). */
void out_json_scalar(FILE *f, const char *v);
/* Writes a parsed YAML reply as a JSON object or array (no newline). */
void out_json_yaml(FILE *f, const cli_yaml *y);
/* A YAML document as one JSON object and a newline (json), else as "key: value" lines. */
void out_yaml_doc(FILE *f, const cli_yaml *y, bool json);
/* Prints a job: JSON object {"id":..,"body":..}, or the body (preceded by
 * "<id>\t" when verbose), then a newline. */
void out_job(const cli *c, const cli_job *job);

/* --- option parsing (main.c) ------------------------------------------- */

/* Every command's option table starts with these and its short option string
 * with CLI_COMMON_SHORTOPTS; cli_opt_common() handles them. */
#define CLI_COMMON_SHORTOPTS ":hV"
#define CLI_COMMON_LONGOPTS                                                                        \
    {"help", no_argument, NULL, 'h'}, {"json", no_argument, NULL, 'J'},                            \
    {                                                                                              \
        "verbose", no_argument, NULL, 'V'                                                          \
    }
/* Returned by a command whose --help was printed; main() exits 0. */
#define CLI_HELP_SHOWN 100

/* Handles getopt_long's result `opt` for command `cmd` when it is a common
 * option or an error: returns 0 to keep parsing, CLI_HELP_SHOWN or
 * CLI_USAGE to stop, or -1 when opt is the command's own option. */
int cli_opt_common(cli *c, const char *cmd, int opt, char **argv);

/* Parses a decimal unsigned integer <= max; on failure prints
 * "synq: CMD: invalid WHAT 'S'" and returns CLI_USAGE. */
int cli_parse_u64(const char *cmd, const char *what, const char *s, uint64_t max, uint64_t *out);
/* Prints "synq: CMD: MSG" and "Try 'synq CMD --help'." to stderr. */
void cli_print_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* cli_print_usage_error(), then evaluates to CLI_USAGE. A macro so that the
 * value is seen at every call site: the static analyzer does not follow
 * variadic calls, and would otherwise assume that a usage error may return
 * CLI_OK with its out parameters unset. */
#define cli_usage_error(...) (cli_print_usage_error(__VA_ARGS__), CLI_USAGE)
/* Prints the help text of command `name` to f. */
void cli_command_help(FILE *f, const char *name);

/* Parses a job id (1 .. 2^64-1); usage error otherwise. */
int cli_parse_id(const char *cmd, const char *s, uint64_t *id);

/* A command's handler for its own options (getopt_long's optarg is set). */
typedef int (*cli_opt_fn)(cli *c, const char *cmd, int opt, void *ctx);
struct option;
/* Runs getopt_long over a command's argv (argv[0] is the command name),
 * handling the common options and passing the others to on_opt (NULL: the
 * command has none). Returns CLI_OK with optind at the first positional
 * argument (getopt permutes them to the end), or the code to exit with. */
int cli_parse_opts(cli *c, int argc, char **argv, const char *shortopts,
                   const struct option *longopts, cli_opt_fn on_opt, void *ctx);

/* Checks a tube name the way the protocol restricts it (1-200 bytes of
 * letters, digits and -+/;.$_(), not starting with '-'); prints a usage
 * error naming cmd and returns CLI_USAGE when it is not valid. */
int cli_check_tube(const char *cmd, const char *name);

/* A cli_opt_fn for "-t TUBE": checks the name and stores it in *(const char **)ctx. */
int cli_tube_opt(cli *c, const char *cmd, int opt, void *ctx);
/* The tube of a command that takes it as "-t TUBE" or as its one positional
 * argument (stats-tube, drain): exactly one of the two, checked. Call after
 * cli_parse_opts(); *tube points into argv or is opt_tube. */
int cli_tube_arg(const char *cmd, int argc, char **argv, const char *opt_tube, char **tube);

/* The priority of job id, from stats-job (cmd_jobs.c). */
int cli_job_pri(cli *c, const char *what, uint64_t id, uint64_t *pri);

/* --- cmd_stats.c: every tube's stats-tube, for tubes and top ------------- */

typedef struct cli_tubes {
    cli_yaml *tubes; /* one stats-tube reply per tube, in list-tubes order */
    size_t n;
} cli_tubes;

/* list-tubes, then stats-tube for each (a tube dropped in between is left
 * out). Returns CLI_OK with *s filled (free with cli_tubes_free), or the
 * error code with *s empty. */
int cli_tubes_fetch(cli *c, cli_tubes *s);
void cli_tubes_free(cli_tubes *s);
/* Writes the tubes as a JSON array of stats-tube objects (no newline). */
void cli_tubes_json(FILE *f, const cli_tubes *s);

/* --- commands: argv[0] is the command name ------------------------------ */

int cmd_put(cli *c, int argc, char **argv);
int cmd_reserve(cli *c, int argc, char **argv);
int cmd_delete(cli *c, int argc, char **argv);
int cmd_release(cli *c, int argc, char **argv);
int cmd_bury(cli *c, int argc, char **argv);
int cmd_kick(cli *c, int argc, char **argv);
int cmd_kick_job(cli *c, int argc, char **argv);
int cmd_touch(cli *c, int argc, char **argv);
int cmd_peek(cli *c, int argc, char **argv);
int cmd_pause(cli *c, int argc, char **argv);
int cmd_drain(cli *c, int argc, char **argv);
int cmd_passwd(cli *c, int argc, char **argv);
int cmd_raw(cli *c, int argc, char **argv);
int cmd_stats(cli *c, int argc, char **argv);
int cmd_stats_tube(cli *c, int argc, char **argv);
int cmd_stats_job(cli *c, int argc, char **argv);
int cmd_tubes(cli *c, int argc, char **argv);
int cmd_top(cli *c, int argc, char **argv);
/* cmd_ext.c: synqd's extensions, and tail */
int cmd_flush(cli *c, int argc, char **argv);
int cmd_jobs(cli *c, int argc, char **argv);
int cmd_move(cli *c, int argc, char **argv);
int cmd_tube_set(cli *c, int argc, char **argv);
int cmd_tube_info(cli *c, int argc, char **argv);
int cmd_tail(cli *c, int argc, char **argv);
/* cmd_cluster.c: a synqd cluster's membership */
int cmd_cluster(cli *c, int argc, char **argv);

#endif
