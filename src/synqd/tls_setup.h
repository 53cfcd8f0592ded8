/*
 * tls_setup: synqd's TLS flags (Redis's names: --tls-port, --tls-cert, --tls-key, --tls-ca,
 * --tls-auth-clients, --tls-protocols, --tls-ciphersuites) and the server configuration they
 * make. The configuration is loaded at start (a file that does not load stops synqd there,
 * with its name) and again on SIGHUP, when the new one replaces the old for connections
 * accepted from then on (server_reload_tls); docs/security.md.
 */
#ifndef SYNQ_QUEUE_TLS_SETUP_H
#define SYNQ_QUEUE_TLS_SETUP_H

#include <stdbool.h>
#include <stdint.h>

#include "synq/tls.h"

/* A connection to the TLS port must finish its handshake within this long of being accepted. */
#define SYNQD_TLS_HANDSHAKE_TIMEOUT_MS 10000u

typedef struct synqd_tls {
    bool on;       /* --tls-port given */
    bool http;     /* --http-tls yes: the --http endpoint speaks TLS with the same files */
    uint16_t port; /* --tls-port */
    sq_tls_opts opts;
} synqd_tls;

/* The defaults: TLS off; once on, --tls-auth-clients yes and "TLSv1.2 TLSv1.3". */
void synqd_tls_default(synqd_tls *t);

/* --tls-auth-clients ARG: "yes", "no" or "optional". false (nothing printed) for anything else. */
bool synqd_tls_parse_auth(const char *arg, sq_tls_verify *out);

/* Whether the TLS flags make sense together (a port or --http-tls with a certificate and a
 * key, client authentication with a CA); says what is missing on stderr when they do not. */
bool synqd_tls_check(const synqd_tls *t);

/* Loads the configuration the flags name. 0 and *out, else a negative errno with the reason
 * (the file, and OpenSSL's words) printed after "synqd: " and what. */
int synqd_tls_load(const synqd_tls *t, const char *what, sq_tls_ctx **out);

#endif
