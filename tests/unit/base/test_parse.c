/*
 * Unit tests for src/base/parse.h: plain digits only, the caller's maximum and the 64-bit
 * overflow, and *out untouched on a refusal.
 */
#include "test.h"

#include "parse.h"

TEST(plain_digits_parse)
{
    uint64_t v = 1;
    ASSERT_EQ(parse_u64("0", 10, &v), 0);
    ASSERT_EQ(v, 0);
    ASSERT_EQ(parse_u64("007", 10, &v), 0);
    ASSERT_EQ(v, 7);
    ASSERT_EQ(parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
    ASSERT_TRUE(v == UINT64_MAX);
}

TEST(signs_blanks_and_junk_are_refused_and_leave_out_alone)
{
    const char *bad[] = {"", "-1", "+1", " 1", "1 ", "1x", "0x10", "-0", "\t7"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 42;
        ASSERT_EQ(parse_u64(bad[i], UINT64_MAX, &v), -1);
        ASSERT_EQ(v, 42);
    }
    uint64_t v = 42;
    ASSERT_EQ(parse_u64(NULL, UINT64_MAX, &v), -1);
    ASSERT_EQ(v, 42);
}

TEST(values_over_max_or_64_bits_are_refused)
{
    uint64_t v = 42;
    ASSERT_EQ(parse_u64("65535", 65535, &v), 0);
    ASSERT_EQ(v, 65535);
    ASSERT_EQ(parse_u64("65536", 65535, &v), -1);
    ASSERT_EQ(parse_u64("6", 5, &v), -1);
    ASSERT_EQ(parse_u64("1", 0, &v), -1);
    ASSERT_EQ(parse_u64("18446744073709551616", UINT64_MAX, &v), -1);
    ASSERT_EQ(parse_u64("99999999999999999999", UINT64_MAX, &v), -1);
    ASSERT_EQ(v, 65535);
}

TEST_MAIN()
