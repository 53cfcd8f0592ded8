/*
 * console_auth: who an /api/ request runs as under --users (console.h, "Access"): a client
 * certificate over --http-tls that names a user, else HTTP Basic with a user's password.
 *
 * The password goes through the code `auth` uses (auth_verify: PBKDF2, constant time, the
 * same work for a user that does not exist) and the same per-address failure table, so the
 * HTTP port is no faster a way to guess than the protocol port: both count against one limit.
 * A browser keeps the Basic credentials of the origin after the first 401 and sends them with
 * every fetch of the page, and auth_verify's verified-password cache makes each later request
 * cost one hash, not the full PBKDF2.
 */
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#include "authcert.h"
#include "authz.h"
#include "console_int.h"
#include "server.h"
#include "store.h"

/* Decodes "Basic <base64(user:password)>" into out (NUL-terminated); its length, or -1 when
 * the header is not that. */
static int basic_credentials(const char *header, char *out, size_t cap)
{
    if (strncasecmp(header, "Basic ", 6) != 0)
        return -1;
    const char *b64 = header + 6;
    while (*b64 == ' ')
        b64++;
    size_t len = strlen(b64);
    while (len > 0 && b64[len - 1] == ' ')
        len--;
    if (len == 0 || len % 4 != 0 || len / 4 * 3 >= cap)
        return -1;
    int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)b64, (int)len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts the bytes the padding stands for. */
    n -= (b64[len - 1] == '=') + (b64[len - 2] == '=');
    out[n] = '\0';
    return n;
}

static int refuse_basic(console_reply *rep, int status, const char *word, const char *msg)
{
    console_error(rep, status, word, msg);
    rep->extra_headers = "WWW-Authenticate: Basic realm=\"synqd\", charset=\"UTF-8\"\r\n";
    return status;
}

int console_auth_user(console *c, console_req *req, console_reply *rep)
{
    auth_env *a = c->auth;
    req->user = req->tls ? auth_cert_user(a->users, req->tls) : NULL;
    if (req->user)
        return 0;
    char cred[CONSOLE_HEADER_BYTES];
    int n = basic_credentials(req->authorization, cred, sizeof cred);
    if (n < 0)
        return refuse_basic(rep, 401, "unauthorized",
                            "--users: log in as a user (HTTP Basic, or a client certificate)");
    uint64_t now_ms = store_now_ms(c->env->st);
    if (auth_limit_blocked(&a->limit, req->peer_addr, now_ms))
        return refuse_basic(rep, 429, "too-many-failures",
                            "too many failed logins from this address; wait a minute");
    const char *colon = memchr(cred, ':', (size_t)n);
    auth_user *u = colon ? auth_users_find(a->users, cred, (size_t)(colon - cred)) : NULL;
    const char *password = colon ? colon + 1 : "";
    size_t password_len = colon ? (size_t)n - (size_t)(password - cred) : 0;
    bool ok = auth_verify(u, password, password_len);
    OPENSSL_cleanse(cred, sizeof cred);
    if (!ok) {
        auth_limit_failed(&a->limit, req->peer_addr, now_ms);
        return refuse_basic(rep, 401, "bad-auth", "wrong user name or password");
    }
    req->user = u;
    return 0;
}
