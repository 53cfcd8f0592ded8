/*
 * authlimit: see authlimit.h.
 */
#include "authlimit.h"

#include <string.h>

#include "hashmap.h"

static size_t bucket_of(const char *addr)
{
    return (size_t)(hashmap_hash_bytes(addr, strlen(addr)) % AUTH_LIMIT_BUCKETS);
}

static bool in_window(const auth_limit_slot *s, uint64_t now_ms)
{
    return s->addr[0] && now_ms - s->since_ms < AUTH_WINDOW_MS;
}

bool auth_limit_blocked(const auth_limit *l, const char *addr, uint64_t now_ms)
{
    const auth_limit_slot *b = l->slots[bucket_of(addr)];
    for (size_t i = 0; i < AUTH_LIMIT_WAYS; i++) {
        if (strcmp(b[i].addr, addr) == 0)
            return in_window(&b[i], now_ms) && b[i].failures >= AUTH_MAX_FAILURES;
    }
    return false;
}

void auth_limit_failed(auth_limit *l, const char *addr, uint64_t now_ms)
{
    auth_limit_slot *b = l->slots[bucket_of(addr)];
    auth_limit_slot *s = NULL, *oldest = &b[0];
    for (size_t i = 0; i < AUTH_LIMIT_WAYS && !s; i++) {
        if (strcmp(b[i].addr, addr) == 0)
            s = &b[i];
        else if (!b[i].addr[0] || (oldest->addr[0] && b[i].since_ms < oldest->since_ms))
            oldest = &b[i];
    }
    if (s && in_window(s, now_ms)) {
        s->failures++;
        return;
    }
    if (!s) {
        s = oldest;
        size_t n = strnlen(addr, AUTH_ADDR_BYTES - 1);
        memcpy(s->addr, addr, n);
        s->addr[n] = '\0';
    }
    s->since_ms = now_ms;
    s->failures = 1;
}

void auth_addr_of_peer(const char *peer, char out[AUTH_ADDR_BYTES])
{
    const char *start = peer, *end = strrchr(peer, ':');
    if (peer[0] == '[') {
        start = peer + 1;
        end = strchr(start, ']');
    }
    size_t n = end ? (size_t)(end - start) : 0;
    if (n >= AUTH_ADDR_BYTES)
        n = AUTH_ADDR_BYTES - 1;
    if (n == 0) {
        /* An AF_UNIX peer has no address: all of them count as one, so they are limited too. */
        memcpy(out, "local", sizeof "local");
        return;
    }
    memcpy(out, start, n);
    out[n] = '\0';
}
