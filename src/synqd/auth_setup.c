/*
 * auth_setup: see auth_setup.h.
 */
#include "auth_setup.h"

#include <stdio.h>

#include "server.h"

int synqd_auth_load(const char *users_file, const char *token_file, auth_users **users,
                    authtoken *token)
{
    char why[512];
    int err = 0;
    *users = NULL;
    if (users_file && (err = auth_users_load(users_file, users, why, sizeof why)) != 0) {
        fprintf(stderr, "synqd: --users: %s\n", why);
        return err;
    }
    if (token_file && (err = authtoken_load(token_file, token, why, sizeof why)) != 0) {
        fprintf(stderr, "synqd: --metrics-token-file: %s\n", why);
        auth_users_free(*users);
        *users = NULL;
    }
    return err;
}

int synqd_users_reload(const char *users_file, server *srv)
{
    char why[512];
    auth_users *fresh;
    int err = auth_users_load(users_file, &fresh, why, sizeof why);
    if (err) {
        fprintf(stderr, "synqd: SIGHUP: --users: %s; keeping the users in force\n", why);
        return err;
    }
    size_t n = fresh->n;
    size_t logged_out = server_reload_users(srv, fresh);
    fprintf(stderr, "synqd: SIGHUP: users reloaded from %s (%zu users; %zu sessions logged out)\n",
            users_file, n, logged_out);
    return 0;
}
