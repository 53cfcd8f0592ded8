/*
 * tls_setup: see tls_setup.h. Client authentication defaults to "yes", as Redis's
 * tls-auth-clients does: a server that exposes a queue with TLS but lets any client in
 * protects the wire and not the jobs, so that takes an explicit --tls-auth-clients no.
 */
#include "tls_setup.h"

#include <stdio.h>
#include <string.h>

#include "synq/loop.h"

void synqd_tls_default(synqd_tls *t)
{
    memset(t, 0, sizeof *t);
    t->opts.verify = SQ_TLS_VERIFY_REQUIRED;
    t->opts.protocols = "TLSv1.2 TLSv1.3";
}

bool synqd_tls_parse_auth(const char *arg, sq_tls_verify *out)
{
    static const struct {
        const char *name;
        sq_tls_verify verify;
    } modes[] = {
        {"yes", SQ_TLS_VERIFY_REQUIRED},
        {"no", SQ_TLS_VERIFY_NONE},
        {"optional", SQ_TLS_VERIFY_OPTIONAL},
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(arg, modes[i].name) == 0) {
            *out = modes[i].verify;
            return true;
        }
    }
    return false;
}

bool synqd_tls_check(const synqd_tls *t)
{
    const sq_tls_opts *o = &t->opts;
    if (!t->on && !t->http) {
        if (o->cert_file || o->key_file || o->ca_file) {
            fprintf(stderr,
                    "synqd: --tls-cert, --tls-key and --tls-ca need --tls-port or --http-tls\n");
            return false;
        }
        return true;
    }
    if (!o->cert_file || !o->key_file) {
        fprintf(stderr, "synqd: %s needs --tls-cert FILE and --tls-key FILE\n",
                t->on ? "--tls-port" : "--http-tls yes");
        return false;
    }
    if (o->verify != SQ_TLS_VERIFY_NONE && !o->ca_file) {
        fprintf(stderr,
                "synqd: --tls-auth-clients %s needs --tls-ca FILE (the CA client "
                "certificates are checked against); --tls-auth-clients no lets any "
                "client in\n",
                o->verify == SQ_TLS_VERIFY_OPTIONAL ? "optional" : "yes (the default)");
        return false;
    }
    return true;
}

int synqd_tls_load(const synqd_tls *t, const char *what, sq_tls_ctx **out)
{
    int err = sq_tls_server_new(&t->opts, out);
    if (err)
        fprintf(stderr, "synqd: %s: %s\n", what,
                *sq_tls_last_error() ? sq_tls_last_error() : sq_strerror(err));
    return err;
}
