/*
 * pwcheck: see pwcheck.h; also auth_verify (users.h), the one place a password is checked.
 *
 * PBKDF2 runs on the event loop, so one check holds every client for its duration (about
 * 50 ms at synq passwd's 100000 iterations). Two things bound that: failures are rate limited
 * per address before they get here (authlimit.c), and a password that verified once is
 * remembered as a salted SHA-256 fingerprint, so a worker that reconnects all day pays the
 * PBKDF2 once per server start. The fingerprint is as secret as the password's hash in the
 * file (both let a guesser test candidates offline; SHA-256 is cheaper to test), which is why
 * it lives only in the server's memory.
 */
#include "pwcheck.h"

#include <string.h>

#ifdef SQ_HAVE_TLS
#include <openssl/crypto.h>
#include <openssl/evp.h>
#endif

#define PREFIX "pbkdf2-sha256$"

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict standard base64 with padding: a multiple of 4 characters, '=' only at the end. Returns
 * the decoded length, or -1 when malformed or longer than max. */
static long b64_decode(const char *s, size_t len, unsigned char *out, size_t max)
{
    if (len == 0 || len % 4 != 0)
        return -1;
    size_t pad = s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
    size_t n = len / 4 * 3 - pad;
    if (n > max)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (size_t k = 0; k < 4; k++) {
            bool padded = i + k >= len - pad;
            v[k] = padded ? 0 : b64_value((unsigned char)s[i + k]);
            if (v[k] < 0)
                return -1;
        }
        unsigned long w = (unsigned long)v[0] << 18 | (unsigned long)v[1] << 12 |
                          (unsigned long)v[2] << 6 | (unsigned long)v[3];
        unsigned char b[3] = {(unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w};
        for (size_t k = 0; k < 3 && o < n; k++)
            out[o++] = b[k];
    }
    return (long)n;
}

const char *pwcheck_decode(const char *hash, size_t len, uint32_t *iterations, unsigned char *salt,
                           size_t *salt_len, unsigned char key[AUTH_KEY_BYTES])
{
    size_t plen = sizeof PREFIX - 1;
    if (len < plen || memcmp(hash, PREFIX, plen) != 0)
        return "expected pbkdf2-sha256$ITERATIONS$SALT$KEY (from `synq passwd`)";
    const char *p = hash + plen, *end = hash + len;
    uint64_t iter = 0;
    const char *q = p;
    while (q < end && *q >= '0' && *q <= '9' && iter <= AUTH_MAX_ITERATIONS)
        iter = iter * 10 + (uint64_t)(*q++ - '0');
    if (q == p || q == end || *q != '$')
        return "the iteration count is not a decimal number";
    if (iter < AUTH_MIN_ITERATIONS || iter > AUTH_MAX_ITERATIONS)
        return "the iteration count must be 1000 to 10000000";
    p = q + 1;
    const char *dollar = memchr(p, '$', (size_t)(end - p));
    if (!dollar)
        return "expected pbkdf2-sha256$ITERATIONS$SALT$KEY (from `synq passwd`)";
    long n = b64_decode(p, (size_t)(dollar - p), salt, AUTH_SALT_MAX);
    if (n < 8)
        return "the salt is not 8 to 64 bytes of base64";
    *salt_len = (size_t)n;
    unsigned char k[AUTH_KEY_BYTES + 3];
    p = dollar + 1;
    if (b64_decode(p, (size_t)(end - p), k, sizeof k) != AUTH_KEY_BYTES)
        return "the key is not 32 bytes of base64";
    memcpy(key, k, AUTH_KEY_BYTES);
    *iterations = (uint32_t)iter;
    return NULL;
}

#ifdef SQ_HAVE_TLS

bool pwcheck_equal(const unsigned char *a, const unsigned char *b)
{
    return CRYPTO_memcmp(a, b, AUTH_KEY_BYTES) == 0;
}

bool pwcheck_match(const char *password, size_t len, uint32_t iterations, const unsigned char *salt,
                   size_t salt_len, const unsigned char key[AUTH_KEY_BYTES])
{
    unsigned char got[AUTH_KEY_BYTES];
    if (PKCS5_PBKDF2_HMAC(password, (int)len, salt, (int)salt_len, (int)iterations, EVP_sha256(),
                          (int)sizeof got, got) != 1)
        return false;
    bool ok = pwcheck_equal(got, key);
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}

bool pwcheck_fingerprint(const char *password, size_t len, const unsigned char *salt,
                         size_t salt_len, unsigned char out[AUTH_KEY_BYTES])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(md, salt, salt_len) == 1 &&
              EVP_DigestUpdate(md, password, len) == 1 && EVP_DigestFinal_ex(md, out, &n) == 1 &&
              n == AUTH_KEY_BYTES;
    EVP_MD_CTX_free(md);
    return ok;
}

#else /* built without OpenSSL (-DSQ_TLS=OFF): no password ever matches */

bool pwcheck_equal(const unsigned char *a, const unsigned char *b)
{
    unsigned char d = 0;
    for (size_t i = 0; i < AUTH_KEY_BYTES; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

bool pwcheck_match(const char *password, size_t len, uint32_t iterations, const unsigned char *salt,
                   size_t salt_len, const unsigned char key[AUTH_KEY_BYTES])
{
    (void)password, (void)len, (void)iterations, (void)salt, (void)salt_len, (void)key;
    return false;
}

bool pwcheck_fingerprint(const char *password, size_t len, const unsigned char *salt,
                         size_t salt_len, unsigned char out[AUTH_KEY_BYTES])
{
    (void)password, (void)len, (void)salt, (void)salt_len, (void)out;
    return false;
}

#endif

bool auth_verify(auth_user *u, const char *password, size_t len)
{
    if (!u || !u->has_password) {
        /* The same work as a real check, on a hash nothing matches. */
        static const unsigned char dummy_salt[16] = "synqd-no-user!!";
        static const unsigned char dummy_key[AUTH_KEY_BYTES];
        (void)pwcheck_match(password, len, AUTH_DEFAULT_ITERATIONS, dummy_salt, sizeof dummy_salt,
                            dummy_key);
        return false;
    }
    unsigned char fp[AUTH_KEY_BYTES];
    bool have_fp = pwcheck_fingerprint(password, len, u->salt, u->salt_len, fp);
    if (have_fp && u->verified_known && pwcheck_equal(fp, u->verified))
        return true;
    if (!pwcheck_match(password, len, u->iterations, u->salt, u->salt_len, u->key))
        return false;
    if (have_fp) {
        memcpy(u->verified, fp, sizeof fp);
        u->verified_known = true;
    }
    return true;
}
