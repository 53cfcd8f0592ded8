/*
 * synq, the command-line client: global options, the command table, help
 * text and the small parsing helpers the commands share.
 *
 * Command line: synq [GLOBAL OPTIONS] COMMAND [ARGS and OPTIONS]. Global
 * options stop at the first non-option word (the command), so a command's
 * own options (reserve's --timeout, for instance) never collide with the
 * global ones. Each command parses the rest with getopt_long, which permutes,
 * so options may follow positional arguments ("synq release 7 --pri 10").
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "parse.h"

typedef struct command {
    const char *name;
    int (*run)(cli *c, int argc, char **argv);
    const char *usage;
    const char *summary;
    const char *details; /* may be NULL */
} command;

static const command commands[] = {
    {"put", cmd_put,
     "put [-t TUBE] [--pri N] [--delay S] [--ttr S] [--unique KEY | --lines] [BODY | -]",
     "put a job and print its id",
     "  The body is BODY, or standard input when BODY is '-' or absent.\n"
     "  -t, --tube TUBE   put into TUBE (default: default)\n"
     "  --pri N           priority, 0 is most urgent (default 1024)\n"
     "  --delay S         seconds before the job becomes ready (default 0)\n"
     "  --ttr S           seconds a worker may hold the job (default 60)\n"
     "  --lines           put each line of standard input as its own job\n"
     "  --unique KEY      put-unique (synqd): while a job with KEY is alive in the\n"
     "                    tube, put nothing, print that job's id and exit 1\n"},
    {"reserve", cmd_reserve,
     "reserve [-t TUBE]... [--timeout S] [--batch N] [--delete|--bury|--release]",
     "reserve a job and print its body",
     "  -t, --tube TUBE   watch TUBE instead of default (repeatable)\n"
     "  --timeout S       give up after S seconds (exit 1); default: wait forever\n"
     "  --delete          delete the job after printing it\n"
     "  --bury            bury it (keeping its priority)\n"
     "  --release         release it back to ready (keeping its priority)\n"
     "  --batch N         reserve-batch (synqd): take up to N (1-1000) ready jobs at\n"
     "                    once, print each, then apply the action to each\n"
     "  Without an action the job returns to ready when synq exits.\n"
     "  -V prints '<id><TAB><body>'; --json prints {\"id\":..,\"body\":..}.\n"},
    {"delete", cmd_delete, "delete ID...", "delete jobs", NULL},
    {"release", cmd_release, "release ID [--pri N] [--delay S]",
     "move a job (ready, delayed or buried) back to ready, or delay it",
     "  The job is taken with reserve-job, then released; without --pri it keeps\n"
     "  its priority. A job reserved by another client cannot be released.\n"},
    {"bury", cmd_bury, "bury ID [--pri N]", "bury a job that is not reserved by anyone",
     "  The job is taken with reserve-job, then buried; without --pri it keeps\n"
     "  its priority.\n"},
    {"kick", cmd_kick, "kick [-t TUBE] [N]",
     "kick up to N buried (or, if none, delayed) jobs; prints the count",
     "  Without N, kicks every buried job of the tube (the count stats-tube gives),\n"
     "  and nothing when none is buried: delayed jobs are never kicked early.\n"},
    {"kick-job", cmd_kick_job, "kick-job ID", "kick one buried or delayed job", NULL},
    {"touch", cmd_touch, "touch ID", "ask for more time on a reserved job",
     "  The protocol only lets the client holding the reservation touch a job, and\n"
     "  synq holds none, so this succeeds only against servers that relax that rule.\n"},
    {"peek", cmd_peek, "peek ID | --ready | --delayed | --buried [-t TUBE]",
     "show a job without reserving it",
     "  -V prints '<id><TAB><body>'; --json prints {\"id\":..,\"body\":..}.\n"},
    {"pause", cmd_pause, "pause -t TUBE SECONDS", "pause reservations from a tube", NULL},
    {"stats", cmd_stats, "stats [KEY]", "server statistics (or the value of one KEY)", NULL},
    {"stats-tube", cmd_stats_tube, "stats-tube [-t] TUBE", "statistics of one tube", NULL},
    {"stats-job", cmd_stats_job, "stats-job ID", "statistics of one job", NULL},
    {"tubes", cmd_tubes, "tubes", "table of all tubes and their job counts",
     "  Columns: tube ready reserved delayed buried urgent waiting paused, where\n"
     "  paused is the seconds of pause left (0: not paused).\n"},
    {"top", cmd_top, "top [--interval S] [-n COUNT | --once] [--sort COLUMN] [-r]",
     "the server's rates and a table of its tubes, refreshed until q",
     "  --interval S      seconds between refreshes (default 1)\n"
     "  -n, --count N     stop after N refreshes (0: until quit)\n"
     "  --once            one refresh (the default when stdout is not a terminal)\n"
     "  -s, --sort COL    sort by COL: tube ready reserved delayed buried jobs\n"
     "                    waiting watching using put/s delete/s paused (default jobs)\n"
     "  -r, --reverse     reverse the order (else numbers largest first, names A-Z)\n"
     "  Keys on a terminal: s / S next / previous sort column, r reverse, q or\n"
     "  Ctrl-C quit. The header shows uptime, connections, jobs (ready + reserved\n"
     "  + delayed + buried), DRAINING, and put/s reserve/s delete/s timeouts/s from\n"
     "  the server's counters; rows get put/s and delete/s from the tube's own\n"
     "  (the protocol counts reserves and timeouts per server only). Rows that do\n"
     "  not fit the window are counted on the last line. A lost connection shows\n"
     "  'reconnecting' and is retried every interval. --json: one object a refresh.\n"},
    {"drain", cmd_drain, "drain [-t] TUBE [--bury|--delete]",
     "reserve every ready job in TUBE and print it",
     "  --delete          delete each job after printing it\n"
     "  --bury            bury each job after printing it\n"
     "  Without an action the jobs are only printed: they go back to ready when\n"
     "  synq exits. -V adds the count on stderr; --json prints one object a line.\n"},
    {"raw", cmd_raw, "raw 'COMMAND LINE' ['COMMAND LINE' | DATA LINE]...",
     "send protocol lines and print every raw reply",
     "  Each argument is sent followed by CRLF; the argument after a put or\n"
     "  put-unique line is its data. Then one reply per command is read and\n"
     "  written exactly as received, with its data (OK, RESERVED, FOUND,\n"
     "  RESERVED_BATCH blocks). Exit status 1 when any reply is an error word.\n"},
    {"flush", cmd_flush, "flush [-t] TUBE [--state ready|delayed|buried|all]",
     "delete a tube's jobs in one state (synqd); prints the count",
     "  --state S         ready, delayed, buried or all (default all: every job of\n"
     "                    the tube that is not reserved)\n"},
    {"jobs", cmd_jobs, "jobs [-t] TUBE [--state S] [--after ID] [-n N | --all]",
     "list a tube's jobs in one state with their stats (synqd)",
     "  --state S         ready (default), delayed, buried or reserved\n"
     "  --after ID        only jobs whose id is greater than ID\n"
     "  -n, --count N     at most N jobs (default 100)\n"
     "  --all             every job (pages of 1000 with list-jobs)\n"
     "  Columns: stats-job's id pri age delay time-left size reserves timeouts\n"
     "  releases buries kicks. --json: one object a job, one a line.\n"},
    {"move", cmd_move, "move FROM TO [--state ready|delayed|buried] [--max N]",
     "move jobs from one tube to another (synqd); prints the count",
     "  --state S         which jobs (default buried: redrive dead letters)\n"
     "  --max N           at most N jobs (default all)\n"
     "  Jobs keep their id, state, priority and counters.\n"},
    {"tube-set", cmd_tube_set, "tube-set TUBE NAME VALUE", "change one setting of a tube (synqd)",
     "  NAME: max-reserves, dead-letter (a tube or -), retry-backoff (ms),\n"
     "  max-reserved, rate (reserves/s), expire (s); 0 turns one off.\n"
     "  An unknown NAME or a bad VALUE exits 1.\n"},
    {"tube-info", cmd_tube_info, "tube-info [-t] TUBE", "a tube's settings and figures (synqd)",
     NULL},
    {"cluster", cmd_cluster, "cluster status | add ID HOST:PORT | remove ID",
     "a synqd cluster: this node's view, or add or remove a node",
     "  status            the node's own view (stats-cluster): state, leader, term,\n"
     "                    commit and applied index, jobs, digest, peers\n"
     "  add ID HOST:PORT  make node ID (started with --join, Raft address HOST:PORT)\n"
     "                    a voter; waits until the change is committed\n"
     "  remove ID         take node ID out of the cluster\n"
     "  Exit status 1 when the cluster refused the change.\n"},
    {"passwd", cmd_passwd, "passwd [--iterations N]",
     "print a password hash for synqd's --users file",
     "  Reads the password from standard input (asked for twice on a terminal,\n"
     "  else the first line) and prints pbkdf2-sha256$N$SALT$KEY. Connects to\n"
     "  nothing. --iterations: PBKDF2 rounds, 1000 to 10000000 (default 100000).\n"},
    {"tail", cmd_tail, "tail [-t] TUBE", "follow a tube: print and delete each job as it comes",
     "  Reserves jobs from TUBE as they become ready, prints each and then\n"
     "  deletes it: tail consumes (use 'jobs' or 'peek' to look without taking).\n"
     "  Runs until Ctrl-C (exit 0); a job printed is always deleted first.\n"
     "  -V prints '<id><TAB><body>'; --json prints one object a line.\n"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void main_help(FILE *f)
{
    fprintf(f, "Usage: synq [-H HOST[:PORT]] [-p PORT] [--user USER [--password-file FILE]]\n"
               "            [--timeout S] [--json] [-V] COMMAND [ARGS]\n"
               "\n"
               "A command-line client for synqd (and any beanstalkd-protocol server).\n"
               "\n"
               "Global options:\n"
               "  -H, --host, --server HOST[:PORT]\n"
               "                    server host, and port if given ([ADDR]:PORT for IPv6;\n"
               "                    env SYNQ_HOST, default 127.0.0.1)\n"
               "  -p, --port PORT   server port (env SYNQ_PORT, default 11300)\n"
               "  --user USER       log in as USER (synqd --users): 'auth USER PASSWORD' is\n"
               "                    sent first on every connection\n"
               "  --password-file FILE\n"
               "                    USER's password: the file's first line (default: env\n"
               "                    SYNQ_PASSWORD; never on the command line)\n"
               "  --timeout S       connect/reply timeout in seconds (default 10)\n"
               "  --json            machine-readable output\n"
               "  -V, --verbose     more output\n"
               "  -h, --help        this help; 'synq COMMAND --help' for a command\n"
               "  -v, --version     print the version\n"
               "\n"
               "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n"
               "Exit status: 0 ok, 1 the server said no (NOT_FOUND, TIMED_OUT, ...),\n"
               "2 usage error, 3 connection or protocol error.\n");
}

void cli_command_help(FILE *f, const char *name)
{
    const command *cmd = find_command(name);
    if (!cmd)
        return;
    fprintf(f, "Usage: synq %s\n\n%s.\n", cmd->usage, cmd->summary);
    if (cmd->details)
        fprintf(f, "\n%s", cmd->details);
    fprintf(f, "\nGlobal options (-H, -p, --user, --password-file, --timeout, --json, -V) go\n"
               "before the command; "
               "--json and -V are also accepted after it.\n");
}

void cli_print_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "synq: %s%s", cmd ? cmd : "", cmd ? ": " : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'synq %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
}

int cli_parse_u64(const char *cmd, const char *what, const char *s, uint64_t max, uint64_t *out)
{
    /* Only plain digits (base/parse.h): a count or an id with a sign or blanks is a typo. */
    if (parse_u64(s, max, out) != 0)
        return cli_usage_error(cmd, "invalid %s '%s'", what, s ? s : "");
    return CLI_OK;
}

int cli_parse_id(const char *cmd, const char *s, uint64_t *id)
{
    int rc = cli_parse_u64(cmd, "job id", s, UINT64_MAX, id);
    if (rc == CLI_OK && *id == 0)
        return cli_usage_error(cmd, "invalid job id '0'");
    return rc;
}

int cli_parse_opts(cli *c, int argc, char **argv, const char *shortopts,
                   const struct option *longopts, cli_opt_fn on_opt, void *ctx)
{
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        int rc = cli_opt_common(c, argv[0], opt, argv);
        if (rc < 0)
            rc = on_opt ? on_opt(c, argv[0], opt, ctx) : cli_usage_error(argv[0], "bad option");
        if (rc)
            return rc;
    }
    return CLI_OK;
}

int cli_check_tube(const char *cmd, const char *name)
{
    static const char extra[] = "-+/;.$_()";
    size_t n = strlen(name);
    bool ok = n >= 1 && n <= 200 && name[0] != '-';
    for (size_t i = 0; ok && i < n; i++) {
        char ch = name[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             strchr(extra, ch) != NULL;
    }
    if (!ok)
        return cli_usage_error(cmd,
                               "invalid tube name '%s' (1-200 of A-Z a-z 0-9 -+/;.$_(), "
                               "not starting with '-')",
                               name);
    return CLI_OK;
}

int cli_tube_opt(cli *c, const char *cmd, int opt, void *ctx)
{
    (void)c;
    if (opt != 't')
        return cli_usage_error(cmd, "bad option");
    *(const char **)ctx = optarg;
    return cli_check_tube(cmd, optarg);
}

int cli_tube_arg(const char *cmd, int argc, char **argv, const char *opt_tube, char **tube)
{
    int npos = argc - optind;
    if (opt_tube ? npos != 0 : npos != 1)
        return cli_usage_error(cmd, "which tube? give it as -t TUBE or as the one argument");
    *tube = opt_tube ? (char *)opt_tube : argv[optind];
    return opt_tube ? CLI_OK : cli_check_tube(cmd, *tube);
}

int cli_opt_common(cli *c, const char *cmd, int opt, char **argv)
{
    switch (opt) {
    case 'h':
        cli_command_help(stdout, cmd);
        return CLI_HELP_SHOWN;
    case 'J':
        c->json = true;
        return 0;
    case 'V':
        c->verbose = true;
        return 0;
    case ':':
        return cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    case '?':
        return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    default:
        return -1;
    }
}

/* Parses the global options into c and sets *at to the index of the command
 * word. Returns -1 to go on, or the exit code when the process should stop
 * (help, version, error). */
/* Splits "HOST[:PORT]" (IPv6 as "[ADDR]" or "[ADDR]:PORT"; a bare address
 * with several colons is all host) into c->host and, when present, c->port.
 * s is modified in place and must outlive c. Returns CLI_OK or CLI_USAGE. */
static int set_server(cli *c, char *s)
{
    char *port = NULL;
    if (s[0] == '[') {
        char *close = strchr(s, ']');
        if (!close || close == s + 1 || (close[1] != '\0' && close[1] != ':'))
            return cli_usage_error(NULL, "invalid server address '%s' (use [ADDR]:PORT)", s);
        *close = '\0';
        port = close[1] == ':' ? close + 2 : NULL;
        s++;
    } else {
        char *colon = strchr(s, ':');
        if (colon && !strchr(colon + 1, ':')) {
            *colon = '\0';
            port = colon + 1;
        }
    }
    if (*s == '\0')
        return cli_usage_error(NULL, "invalid server address: no host");
    c->host = s;
    if (port)
        c->port = port;
    return CLI_OK;
}

/* Parses the global options into c and sets *at to the index of the command
 * word. Returns -1 to go on, or the exit code when the process should stop
 * (help, version, error). Options apply in order, so "-H h:1 -p 2" ends with
 * port 2 and "-p 2 -H h:1" with port 1. */
static int parse_global(cli *c, int argc, char **argv, int *at)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"server", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 'T'},
        {"user", required_argument, NULL, 'u'},
        {"password-file", required_argument, NULL, 'F'},
        {"json", no_argument, NULL, 'J'},
        {"verbose", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int opt;
    const char *password_file = NULL;
    while ((opt = getopt_long(argc, argv, "+:H:p:hvV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            c->user = optarg;
            break;
        case 'F':
            password_file = optarg;
            break;
        case 'H':
            if (set_server(c, optarg) != CLI_OK)
                return CLI_USAGE;
            break;
        case 'p':
            c->port = optarg;
            break;
        case 'T': {
            char *end;
            errno = 0;
            c->timeout_s = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(c->timeout_s > 0 && c->timeout_s < 1e6))
                return cli_usage_error(NULL, "invalid --timeout '%s'", optarg);
            break;
        }
        case 'J':
            c->json = true;
            break;
        case 'V':
            c->verbose = true;
            break;
        case 'h':
            main_help(stdout);
            return CLI_OK;
        case 'v':
            printf("synq %s\n", CLI_VERSION);
            return CLI_OK;
        case ':':
            return cli_usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
        }
    }
    uint64_t port;
    if (cli_parse_u64(NULL, "port", c->port, 65535, &port) != CLI_OK)
        return CLI_USAGE;
    if (port == 0)
        return cli_usage_error(NULL, "invalid port '0'");
    if (password_file && !c->user)
        return cli_usage_error(NULL, "--password-file needs --user USER");
    char why[256];
    if (c->user &&
        login_line(c->user, password_file, c->auth_line, &c->auth_len, why, sizeof why) != 0)
        return cli_usage_error(NULL, "%s", why);
    if (optind >= argc)
        return cli_usage_error(NULL, "missing COMMAND");
    *at = optind;
    return -1;
}

int main(int argc, char **argv)
{
    /* A server that closes mid-send must give an error message and exit 3,
     * not kill us silently with SIGPIPE. (Writes also use MSG_NOSIGNAL; this
     * covers stdout going to a closed pipe, where exiting quietly is right.) */
    signal(SIGPIPE, SIG_IGN);

    cli c = {.host = "127.0.0.1", .port = "11300", .timeout_s = 10.0, .fd = -1};
    /* SYNQ_PORT first, so that a port written in SYNQ_HOST wins over it. */
    const char *env = getenv("SYNQ_PORT");
    if (env && *env)
        c.port = env;
    static char env_host[320];
    env = getenv("SYNQ_HOST");
    if (env && *env) {
        snprintf(env_host, sizeof env_host, "%s", env);
        if (set_server(&c, env_host) != CLI_OK)
            return CLI_USAGE;
    }

    int at = 0;
    int rc = parse_global(&c, argc, argv, &at);
    if (rc >= 0)
        return rc;
    const char *name = argv[at];
    if (strcmp(name, "help") == 0) {
        if (at + 1 < argc && find_command(argv[at + 1])) {
            cli_command_help(stdout, argv[at + 1]);
        } else {
            main_help(stdout);
        }
        return CLI_OK;
    }
    const command *cmd = find_command(name);
    if (!cmd)
        return cli_usage_error(NULL, "unknown command '%s'", name);

    snprintf(c.addr, sizeof c.addr, strchr(c.host, ':') ? "[%s]:%s" : "%s:%s", c.host, c.port);
    optind = 0; /* glibc: 0 re-initialises getopt for the command's own options */
    rc = cmd->run(&c, argc - at, argv + at);
    cli_close(&c);
    if (rc == CLI_HELP_SHOWN)
        rc = CLI_OK;
    if (fflush(stdout) != 0 && rc == CLI_OK && errno != EPIPE) {
        fprintf(stderr, "synq: cannot write output: %s\n", strerror(errno));
        rc = CLI_FAIL;
    }
    return rc;
}
