/*
 * Unit tests for src/synqd/relayid.c: the relay line a follower sends before a client's bytes,
 * formatted and read back; lines that must not be taken (malformed, too long, another command)
 * and lines that are not complete yet.
 */
#include "test.h"

#include <string.h>

#include "relayid.h"

static relayid_status parse(const char *text, relayid *id, size_t *used)
{
    memset(id, 0x5a, sizeof *id);
    *used = 0;
    return relayid_parse(text, strlen(text), id, used);
}

TEST(formats_address_and_user)
{
    char line[RELAYID_LINE_BYTES + 1];
    size_t n = relayid_format(line, "192.0.2.7:40112", "alice", 5);
    ASSERT_STR_EQ(line, "relay-from 192.0.2.7:40112 alice\r\n");
    ASSERT_EQ(n, strlen(line));
    n = relayid_format(line, "[2001:db8::7]:1", NULL, 0);
    ASSERT_STR_EQ(line, "relay-from [2001:db8::7]:1 -\r\n");
    ASSERT_EQ(n, strlen(line));
    ASSERT_EQ(relayid_format(line, "", NULL, 0), strlen("relay-from - -\r\n"));
    ASSERT_STR_EQ(line, "relay-from - -\r\n");
}

TEST(format_refuses_what_the_line_cannot_carry)
{
    char line[RELAYID_LINE_BYTES + 1];
    ASSERT_EQ(relayid_format(line, "10.0.0.1:1 x", NULL, 0), 0u);
    ASSERT_EQ(relayid_format(line, "10.0.0.1:1", "bad name", 8), 0u);
    char peer[RELAYID_PEER_BYTES + 1];
    memset(peer, '1', sizeof peer - 1);
    peer[sizeof peer - 1] = '\0';
    ASSERT_EQ(relayid_format(line, peer, NULL, 0), 0u);
}

TEST(longest_line_fits_the_protocol_limit)
{
    char peer[RELAYID_PEER_BYTES], user[PROTO_MAX_USER];
    memset(peer, '1', sizeof peer - 1);
    peer[sizeof peer - 1] = '\0';
    memset(user, 'u', sizeof user);
    char line[RELAYID_LINE_BYTES + 1];
    size_t n = relayid_format(line, peer, user, sizeof user);
    ASSERT_EQ(n, (size_t)RELAYID_LINE_BYTES);
    ASSERT_LE(n, (size_t)PROTO_MAX_LINE);
    relayid id;
    size_t used;
    ASSERT_EQ(relayid_parse(line, n, &id, &used), RELAYID_LINE);
    ASSERT_EQ(used, n);
    ASSERT_EQ(id.user_len, sizeof user);
    ASSERT_STR_EQ(id.peer, peer);
}

TEST(parses_what_it_formats_and_leaves_the_rest)
{
    relayid id;
    size_t used;
    ASSERT_EQ(parse("relay-from 127.0.0.2:5555 alice@example.com\r\nuse t\r\n", &id, &used),
              RELAYID_LINE);
    ASSERT_EQ(used, strlen("relay-from 127.0.0.2:5555 alice@example.com\r\n"));
    ASSERT_STR_EQ(id.peer, "127.0.0.2:5555");
    ASSERT_EQ(id.user_len, strlen("alice@example.com"));
    ASSERT_STR_EQ(id.user, "alice@example.com");
    ASSERT_EQ(parse("relay-from - -\r\n", &id, &used), RELAYID_LINE);
    ASSERT_STR_EQ(id.peer, "");
    ASSERT_EQ(id.user_len, 0u);
    ASSERT_STR_EQ(id.user, "");
}

TEST(waits_for_a_line_that_may_still_come)
{
    relayid id;
    size_t used;
    ASSERT_EQ(parse("", &id, &used), RELAYID_PARTIAL);
    ASSERT_EQ(parse("rel", &id, &used), RELAYID_PARTIAL);
    ASSERT_EQ(parse("relay-from 127.0.0.1:1 ali", &id, &used), RELAYID_PARTIAL);
    ASSERT_EQ(parse("relay-from 127.0.0.1:1 alice\r", &id, &used), RELAYID_PARTIAL);
}

TEST(other_input_and_malformed_lines_are_not_taken)
{
    static const char *const lines[] = {
        "use default\r\n",
        "put 0 0 1 1\r\nx\r\n",
        "r\r\n",
        "relay-from\r\n",
        "relay-from \r\n",
        "relay-from 127.0.0.1:1\r\n",
        "relay-from 127.0.0.1:1 alice extra\r\n",
        "relay-from 127.0.0.1:1  alice\r\n",
        "relay-from  alice\r\n",
        "relay-from host.example:1 alice\r\n",
        "relay-from 127.0.0.1:1 al/ce\r\n",
        "relay-from 127.0.0.1:1 alice \r\n",
        "RELAY-FROM 127.0.0.1:1 alice\r\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        relayid id;
        size_t used;
        if (parse(lines[i], &id, &used) != RELAYID_NONE)
            TEST_FAIL_("taken: %s", lines[i]);
        ASSERT_EQ(used, 0u);
    }
    /* No line end within the longest line: it is not one (the session answers it). */
    char longl[RELAYID_LINE_BYTES + 8];
    memset(longl, '1', sizeof longl);
    memcpy(longl, "relay-from ", 11);
    relayid id;
    size_t used = 0;
    ASSERT_EQ(relayid_parse(longl, sizeof longl, &id, &used), RELAYID_NONE);
}

TEST_MAIN()
