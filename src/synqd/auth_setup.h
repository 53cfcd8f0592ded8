/*
 * auth_setup: synqd's authentication flags, read at start (main.c's plumbing, as tls_setup.h
 * is for the --tls-* flags).
 */
#ifndef SYNQ_SYNQD_AUTH_SETUP_H
#define SYNQ_SYNQD_AUTH_SETUP_H

#include "authtoken.h"
#include "users.h"

/* Reads --users users_file into *users and --metrics-token-file token_file into *token (either
 * path may be NULL: that one is not read). Before anything binds, so that a file with an error
 * stops synqd, with the file and line named on stderr, rather than letting it serve without
 * the users it lacks. 0, or a negative errno after the message (nothing left allocated). */
int synqd_auth_load(const char *users_file, const char *token_file, auth_users **users,
                    authtoken *token);

/* SIGHUP: reads users_file again and, when it parses, puts it in force on srv
 * (server_reload_users), saying so on stderr; a file with an error is reported with its file
 * and line and changes nothing (the users in force stay). 0 or the negative errno. */
struct server;
int synqd_users_reload(const char *users_file, struct server *srv);

#endif
