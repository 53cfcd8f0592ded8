/*
 * Unit tests for src/synqd/users.c, pwcheck.c, authlimit.c and authtoken.c: the users file's
 * parser and its errors (file and line), the tube-pattern matcher, the rights a user's rules
 * grant and their cache, password checks against a hash made by Python's hashlib (not by our
 * own code), the per-address failure limit and the metrics bearer-token header.
 */
#include "test.h"

#include <errno.h>
#include <string.h>

#include "authlimit.h"
#include "authtoken.h"
#include "http.h"
#include "pwcheck.h"
#include "users.h"

/* hashlib.pbkdf2_hmac('sha256', b'correct horse', b'0123456789abcdef', 1000), base64. */
#define HASH                                                                                       \
    "pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M="
#define PASSWORD "correct horse"

static char err[512];

static auth_users *parse_ok(const char *text)
{
    auth_users *u = NULL;
    err[0] = '\0';
    int rc = auth_users_parse(text, strlen(text), "users.txt", &u, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "unexpected error: %s\n", err);
    ASSERT_EQ(rc, 0);
    return u;
}

/* The message of a file that must not parse. */
static const char *parse_err(const char *text)
{
    auth_users *u = NULL;
    err[0] = '\0';
    ASSERT_EQ(auth_users_parse(text, strlen(text), "users.txt", &u, err, sizeof err), -EINVAL);
    ASSERT_TRUE(u == NULL);
    return err;
}

TEST(pattern_star_matches_any_run_of_bytes)
{
    static const struct {
        const char *pattern, *name;
        bool match;
    } cases[] = {
        {"*", "anything", true},
        {"*", "", true},
        {"emails-*", "emails-", true},
        {"emails-*", "emails-eu", true},
        {"emails-*", "emails", false},
        {"emails-*", "xemails-eu", false},
        {"*-dlq", "orders-dlq", true},
        {"*-dlq", "orders-dlq2", false},
        {"a*b*c", "abc", true},
        {"a*b*c", "aXbYc", true},
        {"a*b*c", "aXbYcZ", false},
        {"a*b*c", "acb", false},
        {"a**b", "ab", true},
        {"exact", "exact", true},
        {"exact", "exac", false},
        {"exact", "exactly", false},
        {"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = auth_pattern_match(cases[i].pattern, strlen(cases[i].pattern), cases[i].name,
                                      strlen(cases[i].name));
        if (got != cases[i].match)
            fprintf(stderr, "pattern %s name %s\n", cases[i].pattern, cases[i].name);
        ASSERT_EQ(got, cases[i].match);
    }
}

TEST(a_file_parses_into_users_with_their_rules)
{
    auth_users *u = parse_ok("# synqd users\n"
                             "\n"
                             "alice " HASH " emails-*:put,reserve  *:peek   # a comment\r\n"
                             "\tops - *:all\n"
                             "bob " HASH "\n");
    ASSERT_EQ(u->n, 3u);
    auth_user *a = auth_users_find(u, "alice", 5);
    ASSERT_TRUE(a != NULL);
    ASSERT_TRUE(a->has_password);
    ASSERT_EQ(a->iterations, 1000u);
    ASSERT_EQ(a->n_rules, 2u);
    ASSERT_EQ(a->line, 3u);
    ASSERT_TRUE(!a->server_admin);
    auth_user *ops = auth_users_find(u, "ops", 3);
    ASSERT_TRUE(ops != NULL);
    ASSERT_TRUE(!ops->has_password);
    ASSERT_TRUE(ops->server_admin);
    auth_user *bob = auth_users_find(u, "bob", 3);
    ASSERT_TRUE(bob != NULL);
    ASSERT_EQ(bob->n_rules, 0u);
    ASSERT_TRUE(auth_users_find(u, "carol", 5) == NULL);
    ASSERT_TRUE(auth_users_find(u, "alic", 4) == NULL);
    auth_users_free(u);
}

TEST(rights_are_the_union_of_the_matching_rules_and_cached)
{
    auth_users *u = parse_ok("alice " HASH " emails-*:put,reserve *:peek reports:admin\n"
                             "bob " HASH "\n");
    auth_user *a = auth_users_find(u, "alice", 5);
    ASSERT_EQ(auth_rights(a, "emails-eu", 9),
              AUTH_RIGHT_PUT | AUTH_RIGHT_RESERVE | AUTH_RIGHT_PEEK);
    ASSERT_EQ(auth_rights(a, "reports", 7), AUTH_RIGHT_ADMIN | AUTH_RIGHT_PEEK);
    ASSERT_EQ(auth_rights(a, "default", 7), AUTH_RIGHT_PEEK);
    ASSERT_EQ(a->rights_cache.len, 3u);
    /* The second lookup answers from the cache, the same. */
    ASSERT_EQ(auth_rights(a, "emails-eu", 9),
              AUTH_RIGHT_PUT | AUTH_RIGHT_RESERVE | AUTH_RIGHT_PEEK);
    ASSERT_EQ(a->rights_cache.len, 3u);
    auth_user *b = auth_users_find(u, "bob", 3);
    ASSERT_EQ(auth_rights(b, "default", 7), 0u);
    auth_users_free(u);
}

TEST(the_rights_cache_is_bounded)
{
    auth_users *u = parse_ok("alice " HASH " t*:put\n");
    auth_user *a = auth_users_find(u, "alice", 5);
    char name[32];
    for (unsigned i = 0; i < AUTH_CACHE_MAX * 2 + 10; i++) {
        int n = snprintf(name, sizeof name, "t%u", i);
        ASSERT_EQ(auth_rights(a, name, (size_t)n), AUTH_RIGHT_PUT);
        ASSERT_LE(a->rights_cache.len, (size_t)AUTH_CACHE_MAX);
    }
    ASSERT_EQ(auth_rights(a, "x", 1), 0u);
    auth_users_free(u);
}

TEST(errors_name_the_file_and_line)
{
    static const struct {
        const char *text, *message;
    } cases[] = {
        {"alice " HASH " emails:put\nbob " HASH " emails:write\n",
         "users.txt:2: unknown right \"write\""},
        {"alice " HASH "\n\n# x\nalice " HASH "\n", "users.txt:4: user alice is defined twice"},
        {"alice\n", "users.txt:1: user alice: no password hash"},
        {"alice secret\n", "users.txt:1: user alice: password hash: expected pbkdf2-sha256$"},
        {"alice "
         "pbkdf2-sha256$10$MDEyMzQ1Njc4OWFiY2RlZg==$cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M=\n",
         "users.txt:1: user alice: password hash: the iteration count must be"},
        {"alice pbkdf2-sha256$1000$MDEy$cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M=\n",
         "users.txt:1: user alice: password hash: the salt"},
        {"alice pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$cBg8D2Dung\n",
         "users.txt:1: user alice: password hash: the key"},
        {"alice "
         "pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$!Bg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M="
         "\n",
         "users.txt:1: user alice: password hash: the key"},
        {"alice " HASH " emails\n", "users.txt:1: rule \"emails\": expected PATTERN:RIGHTS"},
        {"alice " HASH " :put\n", "users.txt:1: rule \":put\": the pattern must be"},
        {"alice " HASH " em ails:put\n", "users.txt:1: rule \"em\": expected PATTERN:RIGHTS"},
        {"alice " HASH " em%ails:put\n", "users.txt:1: rule \"em%ails:put\": byte 0x25"},
        {"alice " HASH " emails:put,\n", "users.txt:1: unknown right \"\""},
        {"al!ce " HASH "\n", "users.txt:1: user name \"al!ce\""},
        {"# nobody\n\n", "users.txt:2: no user defined"},
        {"", "users.txt:1: no user defined"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = parse_err(cases[i].text);
        if (strncmp(got, cases[i].message, strlen(cases[i].message)) != 0)
            fprintf(stderr, "case %zu: got \"%s\", want \"%s...\"\n", i, got, cases[i].message);
        ASSERT_EQ(strncmp(got, cases[i].message, strlen(cases[i].message)), 0);
    }
}

TEST(a_nul_byte_is_an_error_on_its_line)
{
    static const char text[] = "alice " HASH "\nbo\0b " HASH "\n";
    auth_users *u = NULL;
    ASSERT_EQ(auth_users_parse(text, sizeof text - 1, "f", &u, err, sizeof err), -EINVAL);
    ASSERT_STR_EQ(err, "f:2: a NUL byte (is this a text file?)");
}

TEST(load_names_the_file_it_cannot_open)
{
    auth_users *u = NULL;
    ASSERT_EQ(auth_users_load("/nonexistent/users", &u, err, sizeof err), -ENOENT);
    ASSERT_STR_EQ(err, "/nonexistent/users: open(): No such file or directory");
}

TEST(a_password_verifies_against_a_hashlib_hash)
{
    auth_users *u = parse_ok("alice " HASH "\nops - *:all\n");
    auth_user *a = auth_users_find(u, "alice", 5);
    ASSERT_TRUE(!auth_verify(a, "correct horsE", 13));
    ASSERT_TRUE(!auth_verify(a, "correct hors", 12));
    ASSERT_TRUE(!auth_verify(a, "", 0));
    ASSERT_TRUE(!a->verified_known);
    ASSERT_TRUE(auth_verify(a, PASSWORD, strlen(PASSWORD)));
    ASSERT_TRUE(a->verified_known);
    /* From the verified-password cache now, and a wrong one still fails. */
    ASSERT_TRUE(auth_verify(a, PASSWORD, strlen(PASSWORD)));
    ASSERT_TRUE(!auth_verify(a, "correct horsf", 13));
    /* No such user, and a certificate-only one, never verify. */
    ASSERT_TRUE(!auth_verify(NULL, PASSWORD, strlen(PASSWORD)));
    ASSERT_TRUE(!auth_verify(auth_users_find(u, "ops", 3), "", 0));
    auth_users_free(u);
}

TEST(the_failure_limit_blocks_an_address_for_its_window)
{
    static auth_limit l; /* 64 KiB: not on the stack */
    memset(&l, 0, sizeof l);
    uint64_t t = 1000000;
    for (unsigned i = 0; i < AUTH_MAX_FAILURES; i++) {
        ASSERT_TRUE(!auth_limit_blocked(&l, "192.0.2.1", t + i));
        auth_limit_failed(&l, "192.0.2.1", t + i);
    }
    ASSERT_TRUE(auth_limit_blocked(&l, "192.0.2.1", t + 10));
    ASSERT_TRUE(!auth_limit_blocked(&l, "192.0.2.2", t + 10));
    ASSERT_TRUE(auth_limit_blocked(&l, "192.0.2.1", t + AUTH_WINDOW_MS - 1));
    ASSERT_TRUE(!auth_limit_blocked(&l, "192.0.2.1", t + AUTH_WINDOW_MS));
    /* A new window starts from the next failure. */
    auth_limit_failed(&l, "192.0.2.1", t + AUTH_WINDOW_MS);
    ASSERT_TRUE(!auth_limit_blocked(&l, "192.0.2.1", t + AUTH_WINDOW_MS + 1));
}

TEST(the_failure_table_stays_bounded_under_many_addresses)
{
    static auth_limit l;
    memset(&l, 0, sizeof l);
    char addr[AUTH_ADDR_BYTES];
    for (unsigned i = 0; i < AUTH_LIMIT_BUCKETS * AUTH_LIMIT_WAYS * 4; i++) {
        snprintf(addr, sizeof addr, "10.0.%u.%u", i / 256, i % 256);
        auth_limit_failed(&l, addr, 5000 + i);
    }
    /* The newest addresses are still counted. */
    for (unsigned k = 0; k < AUTH_MAX_FAILURES; k++)
        auth_limit_failed(&l, "198.51.100.7", 9000000);
    ASSERT_TRUE(auth_limit_blocked(&l, "198.51.100.7", 9000001));
}

TEST(peer_text_becomes_an_address)
{
    char a[AUTH_ADDR_BYTES];
    auth_addr_of_peer("127.0.0.1:5555", a);
    ASSERT_STR_EQ(a, "127.0.0.1");
    auth_addr_of_peer("[::1]:5555", a);
    ASSERT_STR_EQ(a, "::1");
    auth_addr_of_peer("", a);
    ASSERT_STR_EQ(a, "local");
}

TEST(the_bearer_header_must_carry_the_token)
{
    authtoken t;
    ASSERT_EQ(authtoken_set(&t, "short", 5), -EINVAL);
    ASSERT_EQ(authtoken_set(&t, "0123456789abcdef\x01", 17), -EINVAL);
    ASSERT_EQ(authtoken_set(&t, "0123456789abcdef", 16), 0);
    static const struct {
        const char *line;
        bool grants;
    } cases[] = {
        {"Authorization: Bearer 0123456789abcdef", true},
        {"authorization:bearer 0123456789abcdef  ", true},
        {"AUTHORIZATION: BEARER 0123456789abcdef", true},
        {"Authorization: Bearer 0123456789abcdeF", false},
        {"Authorization: Bearer 0123456789abcde", false},
        {"Authorization: Bearer 0123456789abcdef0", false},
        {"Authorization: Basic 0123456789abcdef", false},
        {"X-Authorization: Bearer 0123456789abcdef", false},
        {"Authorization: 0123456789abcdef", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = authtoken_header_grants(&t, cases[i].line, strlen(cases[i].line));
        if (got != cases[i].grants)
            fprintf(stderr, "line: %s\n", cases[i].line);
        ASSERT_EQ(got, cases[i].grants);
    }
}

/* The metrics endpoint's head reader with a token set: authorized only when a header carried
 * it (http.c calls authtoken_header_grants per header line). */
static bool head_authorized(const authtoken *t, const char *req)
{
    http_head h;
    http_head_init(&h);
    h.token = t;
    size_t off = 0, len = strlen(req), used;
    http_head_result r;
    while ((r = http_head_feed(&h, req + off, len - off, &used)) == HTTP_HEAD_REQUEST)
        off += used;
    ASSERT_EQ(r, HTTP_HEAD_DONE);
    return h.authorized;
}

TEST(the_http_head_reader_tells_whether_the_token_came)
{
    authtoken t;
    ASSERT_EQ(authtoken_set(&t, "0123456789abcdef", 16), 0);
    ASSERT_TRUE(head_authorized(&t, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                    "Authorization: Bearer 0123456789abcdef\r\n\r\n"));
    ASSERT_TRUE(!head_authorized(&t, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(!head_authorized(&t, "GET /metrics HTTP/1.1\r\n"
                                     "Authorization: Bearer wrong-token-000000\r\n\r\n"));
}

TEST_MAIN()
