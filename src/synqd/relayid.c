/*
 * relayid: the relay line's text (see relayid.h).
 */
#include "relayid.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define VERB "relay-from "
#define VERB_LEN (sizeof VERB - 1)

/* An address as sq_conn_peer writes it: hex digits, dots, colons, brackets. Anything else
 * (a space, a control byte) could not have come from a socket address. */
static bool valid_peer(const char *p, size_t n)
{
    if (n == 0 || n >= RELAYID_PEER_BYTES)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == '.' || c == ':' || c == '[' || c == ']';
        if (!ok)
            return false;
    }
    return true;
}

size_t relayid_format(char *out, const char *peer, const char *user, size_t user_len)
{
    size_t peer_len = peer ? strlen(peer) : 0;
    if ((peer_len && !valid_peer(peer, peer_len)) ||
        (user_len && !proto_is_valid_user(user, user_len)))
        return 0;
    int n =
        snprintf(out, RELAYID_LINE_BYTES + 1, VERB "%.*s %.*s\r\n", peer_len ? (int)peer_len : 1,
                 peer_len ? peer : "-", user_len ? (int)user_len : 1, user_len ? user : "-");
    return n > 0 && (size_t)n <= RELAYID_LINE_BYTES ? (size_t)n : 0;
}

relayid_status relayid_parse(const char *bytes, size_t len, relayid *id, size_t *used)
{
    size_t head = len < VERB_LEN ? len : VERB_LEN;
    if (memcmp(bytes, VERB, head) != 0)
        return RELAYID_NONE;
    const char *eol = memmem(bytes, len < RELAYID_LINE_BYTES ? len : RELAYID_LINE_BYTES, "\r\n", 2);
    if (!eol)
        return len < RELAYID_LINE_BYTES ? RELAYID_PARTIAL : RELAYID_NONE;
    const char *p = bytes + VERB_LEN, *end = eol;
    if (p > end)
        return RELAYID_NONE;
    const char *space = memchr(p, ' ', (size_t)(end - p));
    if (!space)
        return RELAYID_NONE;
    size_t peer_len = (size_t)(space - p);
    const char *u = space + 1;
    size_t user_len = (size_t)(end - u);
    bool no_peer = peer_len == 1 && p[0] == '-';
    bool no_user = user_len == 1 && u[0] == '-';
    if ((!no_peer && !valid_peer(p, peer_len)) || (!no_user && !proto_is_valid_user(u, user_len)))
        return RELAYID_NONE;
    memset(id, 0, sizeof *id);
    if (!no_peer)
        memcpy(id->peer, p, peer_len);
    if (!no_user) {
        memcpy(id->user, u, user_len);
        id->user_len = user_len;
    }
    *used = (size_t)(eol - bytes) + 2;
    return RELAYID_LINE;
}
