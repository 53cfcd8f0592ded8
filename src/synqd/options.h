/*
 * options: synqd's command line. beanstalkd's flags with their meaning (so an init script can
 * swap the binary unchanged) plus synqd's long options, each checked where it is parsed, the
 * checks across options, and --help.
 */
#ifndef SYNQD_OPTIONS_H
#define SYNQD_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "authtoken.h"
#include "metrics.h"
#include "server.h"
#include "tls_setup.h"

/* Exit statuses. A bad command line exits 5, as beanstalkd's does. */
enum {
    SYNQD_EXIT_OK = 0,
    SYNQD_EXIT_FAILED = 1, /* the server could not start, or its loop failed */
    SYNQD_EXIT_USAGE = 5,
};

/* --metrics ADDR: the longest address or host name accepted, NUL included. */
#define METRICS_HOST_BYTES 256

/* The command line, parsed. */
typedef struct {
    server_opts server;
    const char *user;          /* -u: become this user after binding, or NULL */
    const char *io_backend;    /* --io-backend, or NULL for the default */
    bool listen_given;         /* -l was given (warned about under socket activation) */
    bool port_given;           /* -p was given */
    bool metrics;              /* --metrics given: serve them on host:port */
    uint32_t shutdown_grace_s; /* --shutdown-grace */
    char metrics_host[METRICS_HOST_BYTES];
    metrics_opts metrics_opts; /* host points into metrics_host */
    synqd_tls tls;             /* the --tls-* flags */
    const char *users_file;    /* --users, or NULL */
    const char *token_file;    /* --metrics-token-file, or NULL */
    authtoken metrics_token;   /* read from token_file; metrics_opts.token points here */
} synqd_options;

/* Parses argv into *opt (which it initialises). False when synqd must exit now with
 * *status: --help or --version done (SYNQD_EXIT_OK), or a usage error already printed. */
bool synqd_parse_options(int argc, char **argv, synqd_options *opt, int *status);

/* "epoll (default), io_uring, poll": the event-loop backends this build has. */
const char *synqd_backend_list(void);

#endif
