/*
 * authcert: see authcert.h.
 */
#include "authcert.h"

#include <stddef.h>
#include <string.h>

#ifdef SQ_HAVE_TLS

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* The user an ASN.1 string names. Certificates may hold any bytes there: a name with a NUL or
 * a byte a user name cannot have simply matches no user. */
static auth_user *user_of(const auth_users *us, const ASN1_STRING *s)
{
    if (!s)
        return NULL;
    const unsigned char *p = ASN1_STRING_get0_data(s);
    int n = ASN1_STRING_length(s);
    if (!p || n <= 0)
        return NULL;
    return auth_users_find(us, (const char *)p, (size_t)n);
}

static auth_user *user_of_sans(const auth_users *us, X509 *cert)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    auth_user *u = NULL;
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && !u; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS)
            u = user_of(us, g->d.dNSName);
        else if (g->type == GEN_EMAIL)
            u = user_of(us, g->d.rfc822Name);
    }
    GENERAL_NAMES_free(sans);
    return u;
}

auth_user *auth_cert_user(const auth_users *us, void *ssl)
{
    if (!ssl)
        return NULL;
    X509 *cert = SSL_get0_peer_certificate(ssl);
    /* OPTIONAL verification lets a handshake through with no certificate; a certificate that
     * was sent is checked, but its result is still read here: only a verified one names. */
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
        return NULL;
    auth_user *u = user_of_sans(us, cert);
    const X509_NAME *subject = X509_get_subject_name(cert);
    for (int i = -1; !u && (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(subject, i);
        u = user_of(us, X509_NAME_ENTRY_get_data(e));
    }
    return u;
}

bool auth_cert_is_node(void *ssl, const char *name)
{
    if (!ssl || !name || !*name)
        return false;
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
        return false;
    return X509_check_host(cert, name, strlen(name), 0, NULL) == 1;
}

#else

auth_user *auth_cert_user(const auth_users *us, void *ssl)
{
    (void)us;
    (void)ssl;
    return NULL;
}

bool auth_cert_is_node(void *ssl, const char *name)
{
    (void)ssl;
    (void)name;
    return false;
}

#endif
