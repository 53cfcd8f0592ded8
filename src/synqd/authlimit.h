/*
 * authlimit: failed `auth` attempts per client address, in a table of fixed size.
 *
 * After AUTH_MAX_FAILURES failures from one address within AUTH_WINDOW_MS of the first of them,
 * that address's `auth` answers BAD_AUTH without checking the password until the window has
 * passed: a guesser gets five tries a minute per address, and the server spends no PBKDF2 on
 * the rest. A success does not reset the count (it would let one known password clear the way
 * for guessing another user's).
 *
 * The table is bounded (AUTH_LIMIT_BUCKETS x AUTH_LIMIT_WAYS addresses): a new address takes
 * the slot of its bucket whose window is oldest. So a client that controls more addresses than
 * the table holds can push its own entries out and guess faster; it cannot make the table grow,
 * nor lock out an address it does not hold. The bucket comes from a keyed hash (SipHash), so
 * nobody can aim many addresses at one bucket.
 *
 * Thread-safety: none; the server's loop thread owns it.
 */
#ifndef SYNQ_SYNQD_AUTHLIMIT_H
#define SYNQ_SYNQD_AUTHLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define AUTH_MAX_FAILURES 5u
#define AUTH_WINDOW_MS 60000u
#define AUTH_LIMIT_BUCKETS 256u
#define AUTH_LIMIT_WAYS 4u
/* An address as text, without its port: "192.0.2.1", "2001:db8::1" (INET6_ADDRSTRLEN). */
#define AUTH_ADDR_BYTES 46

typedef struct auth_limit_slot {
    char addr[AUTH_ADDR_BYTES]; /* "" = free */
    uint64_t since_ms;          /* the first failure of the window */
    uint32_t failures;
} auth_limit_slot;

typedef struct auth_limit {
    auth_limit_slot slots[AUTH_LIMIT_BUCKETS][AUTH_LIMIT_WAYS];
} auth_limit;

/* Whether addr has used up its failures for the window that holds now_ms. */
bool auth_limit_blocked(const auth_limit *l, const char *addr, uint64_t now_ms);

/* Counts a failure of addr at now_ms. */
void auth_limit_failed(auth_limit *l, const char *addr, uint64_t now_ms);

/* The address part of sq_conn_peer()'s text ("127.0.0.1:5555" -> "127.0.0.1", "[::1]:5555" ->
 * "::1") into out[AUTH_ADDR_BYTES]; "local" when it has none (an AF_UNIX peer). */
void auth_addr_of_peer(const char *peer, char out[AUTH_ADDR_BYTES]);

#endif
