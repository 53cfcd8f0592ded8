/*
 * pwcheck: password hashes as the users file holds them, `pbkdf2-sha256$ITER$SALT$KEY`
 * (PBKDF2-HMAC-SHA256 from OpenSSL, ITER in decimal, SALT and KEY in standard base64 with
 * padding; KEY is 32 bytes), and the constant-time check of a password against one. The format
 * is the one `synq passwd` prints (tools/cli/cmd_passwd.c makes it; only decoding is here).
 *
 * Thread-safety: every function is reentrant.
 */
#ifndef SYNQ_SYNQD_PWCHECK_H
#define SYNQ_SYNQD_PWCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "users.h"

/* Decodes hash[0..len). Returns NULL and fills *iterations, salt[0..*salt_len) (at most
 * AUTH_SALT_MAX bytes) and key[AUTH_KEY_BYTES], or a static message saying what is wrong. */
const char *pwcheck_decode(const char *hash, size_t len, uint32_t *iterations, unsigned char *salt,
                           size_t *salt_len, unsigned char key[AUTH_KEY_BYTES]);

/* Derives the key of password[0..len) with salt and iterations and compares it with key in
 * constant time. false also when the derivation fails (or the build has no OpenSSL). */
bool pwcheck_match(const char *password, size_t len, uint32_t iterations, const unsigned char *salt,
                   size_t salt_len, const unsigned char key[AUTH_KEY_BYTES]);

/* SHA-256 of salt then password, into out: the verified-password cache's fingerprint. false on
 * failure. */
bool pwcheck_fingerprint(const char *password, size_t len, const unsigned char *salt,
                         size_t salt_len, unsigned char out[AUTH_KEY_BYTES]);

/* Constant-time equality of two AUTH_KEY_BYTES buffers. */
bool pwcheck_equal(const unsigned char *a, const unsigned char *b);

#endif
