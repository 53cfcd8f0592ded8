/*
 * Unit tests for src/synqd/exposure.c: which addresses count as loopback (reachable from this
 * host only), IPv4, IPv6, IPv4-mapped and AF_UNIX, and the wildcards counted as exposed.
 */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "exposure.h"

static bool v4_is_loopback(const char *text)
{
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    ASSERT_EQ(inet_pton(AF_INET, text, &in.sin_addr), 1);
    return addr_is_loopback((const struct sockaddr *)&in, sizeof in);
}

static bool v6_is_loopback(const char *text)
{
    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof in6);
    in6.sin6_family = AF_INET6;
    ASSERT_EQ(inet_pton(AF_INET6, text, &in6.sin6_addr), 1);
    return addr_is_loopback((const struct sockaddr *)&in6, sizeof in6);
}

TEST(ipv4_loopback_is_all_of_127_slash_8)
{
    ASSERT_TRUE(v4_is_loopback("127.0.0.1"));
    ASSERT_TRUE(v4_is_loopback("127.0.0.2"));
    ASSERT_TRUE(v4_is_loopback("127.255.255.254"));
    ASSERT_TRUE(!v4_is_loopback("0.0.0.0"));
    ASSERT_TRUE(!v4_is_loopback("126.255.255.255"));
    ASSERT_TRUE(!v4_is_loopback("128.0.0.1"));
    ASSERT_TRUE(!v4_is_loopback("10.0.0.1"));
    ASSERT_TRUE(!v4_is_loopback("192.168.1.10"));
}

TEST(ipv6_loopback_is_colon_colon_1_and_mapped_127)
{
    ASSERT_TRUE(v6_is_loopback("::1"));
    ASSERT_TRUE(v6_is_loopback("::ffff:127.0.0.1"));
    ASSERT_TRUE(v6_is_loopback("::ffff:127.1.2.3"));
    ASSERT_TRUE(!v6_is_loopback("::"));
    ASSERT_TRUE(!v6_is_loopback("::ffff:0.0.0.0"));
    ASSERT_TRUE(!v6_is_loopback("::ffff:10.0.0.1"));
    ASSERT_TRUE(!v6_is_loopback("::2"));
    ASSERT_TRUE(!v6_is_loopback("fe80::1"));
    ASSERT_TRUE(!v6_is_loopback("2001:db8::1"));
    /* 127.0.0.1 in the deprecated IPv4-compatible form is not loopback. */
    ASSERT_TRUE(!v6_is_loopback("::127.0.0.1"));
}

TEST(unix_sockets_are_local_and_short_addresses_are_not_trusted)
{
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    ASSERT_TRUE(addr_is_loopback((const struct sockaddr *)&un, sizeof un));
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_TRUE(addr_is_loopback((const struct sockaddr *)&in, sizeof in));
    ASSERT_TRUE(!addr_is_loopback((const struct sockaddr *)&in, sizeof in - 1));
    struct sockaddr_storage other;
    memset(&other, 0, sizeof other);
    other.ss_family = AF_PACKET;
    ASSERT_TRUE(!addr_is_loopback((const struct sockaddr *)&other, sizeof other));
}

TEST_MAIN()
