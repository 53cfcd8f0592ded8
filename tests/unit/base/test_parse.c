/*
 * Unit tests for src/base/parse.h: plain digits only, the caller's maximum and the 64-bit
 * overflow, and *out untouched on a refusal; sizes with their units (binary for k, K, KiB and
 * the like, decimal for KB, MB, GB) and everything else refused, overflow apart from junk.
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

TEST(sizes_take_plain_bytes_and_each_unit)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } ok[] = {
        {"0", 0},           {"4096", 4096},     {"1k", 1024},         {"1K", 1024},
        {"1KiB", 1024},     {"1KB", 1000},      {"64M", 64ull << 20}, {"64MiB", 64ull << 20},
        {"64MB", 64000000}, {"3G", 3ull << 30}, {"3GiB", 3ull << 30}, {"3GB", 3000000000ull},
        {"0G", 0},          {"007k", 7168},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 42;
        ASSERT_EQ(parse_size(ok[i].text, UINT64_MAX, &v), 0);
        ASSERT_EQ(v, ok[i].bytes);
    }
}

TEST(sizes_with_other_units_or_junk_are_refused_and_leave_out_alone)
{
    const char *bad[] = {"",    "k",   "KiB",   "1kb",  "1kB",   "1kib", "1m",  "1g",
                         "1T",  "1B",  "1 K",   " 1K",  "1K ",   "1.5M", "-1K", "+1K",
                         "1KK", "1Ki", "1KiBx", "1MIB", "0x10K", "1e3",  "K1",  "1\nK"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 42;
        ASSERT_EQ(parse_size(bad[i], UINT64_MAX, &v), PARSE_SIZE_BAD);
        ASSERT_EQ(v, 42);
    }
    uint64_t v = 42;
    ASSERT_EQ(parse_size(NULL, UINT64_MAX, &v), PARSE_SIZE_BAD);
    ASSERT_EQ(v, 42);
}

TEST(sizes_over_max_or_64_bits_are_out_of_range)
{
    uint64_t v = 42;
    ASSERT_EQ(parse_size("1G", 1ull << 30, &v), 0);
    ASSERT_EQ(v, 1ull << 30);
    v = 42;
    ASSERT_EQ(parse_size("1073741825", 1ull << 30, &v), PARSE_SIZE_RANGE);
    ASSERT_EQ(parse_size("1025M", 1ull << 30, &v), PARSE_SIZE_RANGE);
    ASSERT_EQ(parse_size("2GB", 1ull << 30, &v), PARSE_SIZE_RANGE);
    /* The digits fit in 64 bits, their bytes do not. */
    ASSERT_EQ(parse_size("17179869184G", UINT64_MAX, &v), PARSE_SIZE_RANGE);
    ASSERT_EQ(parse_size("18446744073709551615k", UINT64_MAX, &v), PARSE_SIZE_RANGE);
    /* The digits alone are over 64 bits, with or without a unit. */
    ASSERT_EQ(parse_size("18446744073709551616", UINT64_MAX, &v), PARSE_SIZE_RANGE);
    ASSERT_EQ(parse_size("99999999999999999999K", UINT64_MAX, &v), PARSE_SIZE_RANGE);
    ASSERT_EQ(v, 42);
    ASSERT_EQ(parse_size("16777215G", UINT64_MAX, &v), 0);
    ASSERT_EQ(v, 16777215ull << 30);
    ASSERT_EQ(parse_size("18446744073709551615", UINT64_MAX, &v), 0);
    ASSERT_TRUE(v == UINT64_MAX);
}

TEST_MAIN()
