/*
 * authz: see authz.h. One row per command says what it needs; the check is one switch on
 * that need, so a command added to the table without a row is refused (AUTHZ_DENY is 0) until
 * someone decides what it needs.
 */
#include "authz.h"

typedef enum {
    AUTHZ_DENY = 0,  /* no row: refused */
    AUTHZ_ANY,       /* the session's own business: quit, ignore, list-tube-used, ... */
    AUTHZ_USED,      /* `right` on the used tube */
    AUTHZ_TUBE,      /* `right` (any of the bits) on cmd->tube */
    AUTHZ_TWO_TUBES, /* `right` on cmd->tube and on cmd->to_tube (move-jobs, dead-letter) */
    AUTHZ_WATCHED,   /* the reserve right on every watched tube */
    AUTHZ_JOB,       /* `right` on the job's tube */
    AUTHZ_DELETE,    /* the reserver, or admin on the job's tube */
    AUTHZ_SERVER,    /* admin on `*`: the server's own figures */
} authz_need;

typedef struct authz_row {
    unsigned char need;  /* authz_need */
    unsigned char right; /* AUTH_RIGHT_* */
} authz_row;

#define ROW(t, need, right) [t] = {need, right}
#define USE_RIGHTS (AUTH_RIGHT_PUT | AUTH_RIGHT_PEEK | AUTH_RIGHT_ADMIN)

static const authz_row rows[CMD_COUNT_] = {
    ROW(CMD_PUT, AUTHZ_USED, AUTH_RIGHT_PUT),
    ROW(CMD_PUT_UNIQUE, AUTHZ_USED, AUTH_RIGHT_PUT),
    /* use serves put, the peek-* commands and kick, so any of their rights allows it. */
    ROW(CMD_USE, AUTHZ_TUBE, USE_RIGHTS),
    ROW(CMD_RESERVE, AUTHZ_WATCHED, AUTH_RIGHT_RESERVE),
    ROW(CMD_RESERVE_WITH_TIMEOUT, AUTHZ_WATCHED, AUTH_RIGHT_RESERVE),
    ROW(CMD_RESERVE_BATCH, AUTHZ_WATCHED, AUTH_RIGHT_RESERVE),
    ROW(CMD_RESERVE_JOB, AUTHZ_JOB, AUTH_RIGHT_RESERVE),
    ROW(CMD_DELETE, AUTHZ_DELETE, AUTH_RIGHT_ADMIN),
    /* release, bury and touch act only on jobs the session reserved (the store answers
     * NOT_FOUND for any other), which it could reserve only with the right. */
    ROW(CMD_RELEASE, AUTHZ_ANY, 0),
    ROW(CMD_BURY, AUTHZ_ANY, 0),
    ROW(CMD_TOUCH, AUTHZ_ANY, 0),
    ROW(CMD_WATCH, AUTHZ_TUBE, AUTH_RIGHT_RESERVE),
    ROW(CMD_IGNORE, AUTHZ_ANY, 0),
    ROW(CMD_PEEK, AUTHZ_JOB, AUTH_RIGHT_PEEK),
    ROW(CMD_PEEK_READY, AUTHZ_USED, AUTH_RIGHT_PEEK),
    ROW(CMD_PEEK_DELAYED, AUTHZ_USED, AUTH_RIGHT_PEEK),
    ROW(CMD_PEEK_BURIED, AUTHZ_USED, AUTH_RIGHT_PEEK),
    ROW(CMD_KICK, AUTHZ_USED, AUTH_RIGHT_ADMIN),
    ROW(CMD_KICK_JOB, AUTHZ_JOB, AUTH_RIGHT_ADMIN),
    ROW(CMD_STATS_JOB, AUTHZ_JOB, AUTH_RIGHT_PEEK),
    ROW(CMD_STATS_TUBE, AUTHZ_TUBE, AUTH_RIGHT_PEEK),
    ROW(CMD_STATS, AUTHZ_SERVER, AUTH_RIGHT_ADMIN),
    ROW(CMD_STATS_LOG, AUTHZ_SERVER, AUTH_RIGHT_ADMIN),
    ROW(CMD_STATS_CLUSTER, AUTHZ_SERVER, AUTH_RIGHT_ADMIN),
    ROW(CMD_CLUSTER_ADD, AUTHZ_SERVER, AUTH_RIGHT_ADMIN),
    ROW(CMD_CLUSTER_REMOVE, AUTHZ_SERVER, AUTH_RIGHT_ADMIN),
    ROW(CMD_LIST_TUBES, AUTHZ_ANY, 0), /* shows only the tubes the user has a right on */
    ROW(CMD_LIST_TUBE_USED, AUTHZ_ANY, 0),
    ROW(CMD_LIST_TUBES_WATCHED, AUTHZ_ANY, 0),
    ROW(CMD_PAUSE_TUBE, AUTHZ_TUBE, AUTH_RIGHT_ADMIN),
    ROW(CMD_QUIT, AUTHZ_ANY, 0),
    ROW(CMD_FLUSH_TUBE, AUTHZ_TUBE, AUTH_RIGHT_ADMIN),
    ROW(CMD_LIST_JOBS, AUTHZ_TUBE, AUTH_RIGHT_PEEK),
    ROW(CMD_MOVE_JOBS, AUTHZ_TWO_TUBES, AUTH_RIGHT_ADMIN),
    ROW(CMD_TUBE_SET, AUTHZ_TWO_TUBES, AUTH_RIGHT_ADMIN),
    ROW(CMD_TUBE_INFO, AUTHZ_TUBE, AUTH_RIGHT_PEEK),
    ROW(CMD_AUTH, AUTHZ_ANY, 0),
};

#undef ROW

static bool has_on(auth_user *u, const tube *t, unsigned right)
{
    return (auth_rights(u, tube_name(t), tube_name_len(t)) & right) != 0;
}

static bool has_on_name(auth_user *u, const char *name, size_t len, unsigned right)
{
    return (auth_rights(u, name, len) & right) != 0;
}

bool authz_allows(const session_auth *sa, store *st, const client *cl, const proto_cmd *cmd)
{
    auth_user *u = sa->user;
    if ((unsigned)cmd->type >= CMD_COUNT_)
        return false;
    const authz_row *r = &rows[cmd->type];
    switch ((authz_need)r->need) {
    case AUTHZ_ANY:
        return true;
    case AUTHZ_USED:
        return has_on(u, client_used_tube(cl), r->right);
    case AUTHZ_TUBE:
        return has_on_name(u, cmd->tube, cmd->tube_len, r->right);
    case AUTHZ_TWO_TUBES:
        /* tube-set's to_tube is its dead-letter tube, empty for anything else. */
        return has_on_name(u, cmd->tube, cmd->tube_len, r->right) &&
               (cmd->to_tube_len == 0 || has_on_name(u, cmd->to_tube, cmd->to_tube_len, r->right));
    case AUTHZ_WATCHED:
        return sa->denied_watches == 0;
    case AUTHZ_JOB:
    case AUTHZ_DELETE: {
        const job *j = store_find_job(st, cmd->id);
        if (!j)
            return true;
        if (r->need == AUTHZ_DELETE && job_get_state(j) == JOB_RESERVED &&
            job_reserver(st, j) == cl)
            return true;
        return has_on(u, job_tube(st, j), r->right);
    }
    case AUTHZ_SERVER:
        return u->server_admin;
    case AUTHZ_DENY:
        break;
    }
    return false;
}

uint32_t authz_denied_watches(auth_user *u, const client *cl)
{
    uint32_t n = 0;
    size_t watched = client_watch_count(cl);
    for (size_t i = 0; i < watched; i++)
        n += !has_on(u, client_watched_at(cl, i), AUTH_RIGHT_RESERVE);
    return n;
}

bool authz_tube_visible(auth_user *u, const tube *t)
{
    return has_on(u, t, AUTH_RIGHTS_ALL);
}
