/* Tests for src/base/crc32c.c: known vectors (RFC 3720 B.4), chaining, and
 * hardware == software on random data at every alignment and length. */
#include "crc32c.h"
#include "test.h"

TEST(crc32c_check_string)
{
    ASSERT_EQ(crc32c(0, "123456789", 9), 0xE3069283u);
    ASSERT_EQ(crc32c_sw(0, "123456789", 9), 0xE3069283u);
}

TEST(crc32c_rfc3720_vectors)
{
    unsigned char buf[32];
    memset(buf, 0, sizeof buf);
    ASSERT_EQ(crc32c(0, buf, 32), 0x8A9136AAu);
    ASSERT_EQ(crc32c_sw(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    ASSERT_EQ(crc32c(0, buf, 32), 0x62A8AB43u);
    ASSERT_EQ(crc32c_sw(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    ASSERT_EQ(crc32c(0, buf, 32), 0x46DD794Eu);
    ASSERT_EQ(crc32c_sw(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)(31 - i);
    ASSERT_EQ(crc32c(0, buf, 32), 0x113FDB5Cu);
    ASSERT_EQ(crc32c_sw(0, buf, 32), 0x113FDB5Cu);
}

TEST(crc32c_empty_is_identity)
{
    ASSERT_EQ(crc32c(0, NULL, 0), 0u);
    ASSERT_EQ(crc32c(0x12345678u, NULL, 0), 0x12345678u);
}

TEST(crc32c_chaining_equals_one_pass)
{
    const char *s = "The quick brown fox jumps over the lazy dog, twice over.";
    size_t n = strlen(s);
    uint32_t whole = crc32c(0, s, n);
    for (size_t cut = 0; cut <= n; cut++) {
        ASSERT_EQ(crc32c(crc32c(0, s, cut), s + cut, n - cut), whole);
        ASSERT_EQ(crc32c_sw(crc32c_sw(0, s, cut), s + cut, n - cut), whole);
    }
}

TEST(crc32c_hw_matches_sw_at_every_alignment)
{
    unsigned char buf[600];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    if (!crc32c_hw_available()) {
        printf("(no SSE4.2: hardware path not tested)\n");
        return;
    }
    for (size_t off = 0; off < 16; off++)
        for (size_t len = 0; len + off <= sizeof buf; len += 7)
            ASSERT_EQ(crc32c_hw(0, buf + off, len), crc32c_sw(0, buf + off, len));
}

TEST(crc32c_detects_single_bit_flip)
{
    unsigned char buf[64];
    for (int i = 0; i < 64; i++)
        buf[i] = (unsigned char)(i * 7);
    uint32_t good = crc32c(0, buf, sizeof buf);
    for (int bit = 0; bit < 64 * 8; bit++) {
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        ASSERT_NE(crc32c(0, buf, sizeof buf), good);
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}

TEST_MAIN()
