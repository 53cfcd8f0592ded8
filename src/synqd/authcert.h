/*
 * authcert: a verified client certificate as a user of the users file (docs/security.md,
 * "Client certificates"). The certificate's subjectAltName DNS names and e-mail addresses, in
 * their order, then its subject's common names, are looked up as user names; the first that
 * names a user is the user, and no password is asked for. A certificate that did not verify
 * against --tls-ca (with --tls-auth-clients optional a client may send none) names nobody.
 */
#ifndef SYNQ_SYNQD_AUTHCERT_H
#define SYNQ_SYNQD_AUTHCERT_H

#include <stdbool.h>

#include "users.h"

/* The user the peer certificate of ssl (an SSL *, sq_conn_tls_openssl(); NULL allowed) names,
 * or NULL. Call once the handshake completed. */
auth_user *auth_cert_user(const auth_users *us, void *ssl);

/* Whether the peer certificate of ssl (as above; NULL allowed) verified and is issued for name
 * (a subjectAltName DNS name, or the common name when it has none, wildcards allowed: what
 * OpenSSL's host check reads, the rule tlsxport applies to Raft peers with
 * --cluster-tls-name). Such a peer is a cluster node (relayid.h). Call once the handshake
 * completed. */
bool auth_cert_is_node(void *ssl, const char *name);

#endif
