/*
 * Unit tests for src/net/codec.c: line frames with each delimiter, length
 * prefixes of every width and byte order, and announced bodies. Most
 * streams are also fed one byte at a time (the way a slow peer sends them)
 * and must give the same frames as when fed whole.
 */
#include "synq/codec.h"

#include <errno.h>

#include "test.h"

/* --- helpers ----------------------------------------------------------- */

/* Decodes every line in stream[0..len), growing the visible input by
 * `step` bytes at a time like a connection reading that much per read, and
 * appends each frame followed by '|' to out. Returns the final decoder
 * status (0: ran out of input, <0: error) and leaves in *left the bytes
 * not consumed. */
static int decode_lines(sq_delim delim, size_t max_line, const char *stream, size_t len,
                        size_t step, char *out, size_t *out_len, size_t *left)
{
    sq_line_codec c;
    sq_line_codec_init(&c, delim, max_line);
    size_t start = 0, visible = 0;
    *out_len = 0;
    int rc = 0;
    while (visible < len) {
        visible = visible + step < len ? visible + step : len;
        for (;;) {
            size_t frame_len = 0, consumed = 0;
            rc = sq_line_decode(&c, stream + start, visible - start, &frame_len, &consumed);
            if (rc < 0) {
                *left = len - start;
                return rc;
            }
            if (rc == 0)
                break;
            ASSERT_LE(consumed, visible - start);
            ASSERT_LE(frame_len, max_line);
            memcpy(out + *out_len, stream + start, frame_len);
            *out_len += frame_len;
            out[(*out_len)++] = '|';
            start += consumed;
        }
    }
    *left = len - start;
    return rc;
}

static int line_once(sq_delim delim, size_t max_line, const char *s, size_t len, size_t *frame_len,
                     size_t *consumed)
{
    sq_line_codec c;
    sq_line_codec_init(&c, delim, max_line);
    return sq_line_decode(&c, s, len, frame_len, consumed);
}

/* --- line codec -------------------------------------------------------- */

TEST(crlf_line_found)
{
    size_t fl = 99, used = 99;
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 100, "use foo\r\nrest", 13, &fl, &used), 1);
    ASSERT_EQ(fl, 7);
    ASSERT_EQ(used, 9);
}

TEST(lf_line_found)
{
    size_t fl = 99, used = 99;
    ASSERT_EQ(line_once(SQ_DELIM_LF, 100, "abc\ndef", 7, &fl, &used), 1);
    ASSERT_EQ(fl, 3);
    ASSERT_EQ(used, 4);
}

TEST(nul_line_found)
{
    size_t fl = 99, used = 99;
    ASSERT_EQ(line_once(SQ_DELIM_NUL, 100, "ab\0cd", 5, &fl, &used), 1);
    ASSERT_EQ(fl, 2);
    ASSERT_EQ(used, 3);
}

TEST(empty_lines_are_frames)
{
    size_t fl = 99, used = 99;
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 100, "\r\n", 2, &fl, &used), 1);
    ASSERT_EQ(fl, 0);
    ASSERT_EQ(used, 2);
    ASSERT_EQ(line_once(SQ_DELIM_LF, 100, "\n", 1, &fl, &used), 1);
    ASSERT_EQ(fl, 0);
    ASSERT_EQ(used, 1);
}

TEST(partial_line_needs_more)
{
    size_t fl = 99, used = 99;
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 100, "use fo", 6, &fl, &used), 0);
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 100, "use foo\r", 8, &fl, &used), 0);
    ASSERT_EQ(line_once(SQ_DELIM_LF, 100, "", 0, &fl, &used), 0);
    ASSERT_EQ(fl, 99); /* outputs untouched when no frame */
    ASSERT_EQ(used, 99);
}

TEST(crlf_mode_bare_lf_is_content)
{
    size_t fl = 0, used = 0;
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 100, "a\nb", 3, &fl, &used), 0);
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 100, "a\nb\rc\r\n", 7, &fl, &used), 1);
    ASSERT_EQ(fl, 5);
    ASSERT_EQ(used, 7);
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 100, "\n\r\n", 3, &fl, &used), 1);
    ASSERT_EQ(fl, 1);
}

TEST(crlf_split_across_feeds)
{
    const char *s = "put 0 0 1 5\r\n";
    sq_line_codec c;
    sq_line_codec_init(&c, SQ_DELIM_CRLF, 100);
    size_t fl = 0, used = 0;
    ASSERT_EQ(sq_line_decode(&c, s, 12, &fl, &used), 0); /* ends with "\r" */
    ASSERT_EQ(c.scanned_, 12);
    ASSERT_EQ(sq_line_decode(&c, s, 13, &fl, &used), 1);
    ASSERT_EQ(fl, 11);
    ASSERT_EQ(used, 13);
    ASSERT_EQ(c.scanned_, 0);
}

TEST(search_resumes_where_it_stopped)
{
    sq_line_codec c;
    sq_line_codec_init(&c, SQ_DELIM_LF, 100);
    size_t fl = 0, used = 0;
    ASSERT_EQ(sq_line_decode(&c, "abcd", 4, &fl, &used), 0);
    ASSERT_EQ(c.scanned_, 4);
    /* The first 4 bytes are not searched again: a '\n' planted there (which
     * a real stream cannot do) is not seen. */
    ASSERT_EQ(sq_line_decode(&c, "a\ncdef", 6, &fl, &used), 0);
    ASSERT_EQ(c.scanned_, 6);
    sq_line_codec_reset(&c);
    ASSERT_EQ(sq_line_decode(&c, "a\ncdef", 6, &fl, &used), 1);
    ASSERT_EQ(fl, 1);
}

TEST(many_lines_in_one_buffer)
{
    const char s[] = "one\r\ntwo\r\n\r\nthree\r\nfour";
    char out[64];
    size_t out_len, left;
    ASSERT_EQ(decode_lines(SQ_DELIM_CRLF, 100, s, sizeof s - 1, sizeof s, out, &out_len, &left), 0);
    ASSERT_EQ(out_len, 15);
    ASSERT_MEM_EQ(out, "one|two||three|", 15);
    ASSERT_EQ(left, 4);
}

TEST(byte_at_a_time_gives_same_frames)
{
    static const struct {
        sq_delim delim;
        const char *s;
        size_t len;
    } cases[] = {
#define CASE(d, lit) {(d), (lit), sizeof(lit) - 1}
        CASE(SQ_DELIM_CRLF, "a\r\nbb\rb\r\n\nc\r\n\r\n\r\r\nxyz"),
        CASE(SQ_DELIM_LF, "a\nbb\r\n\n\nccc\nd"),
        CASE(SQ_DELIM_NUL, "a\0bb\0\0ccc\0d"),
#undef CASE
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char whole[64], bytewise[64];
        size_t whole_len, bytewise_len, left1, left2;
        int rc1 = decode_lines(cases[i].delim, 16, cases[i].s, cases[i].len, cases[i].len, whole,
                               &whole_len, &left1);
        int rc2 = decode_lines(cases[i].delim, 16, cases[i].s, cases[i].len, 1, bytewise,
                               &bytewise_len, &left2);
        ASSERT_EQ(rc1, 0);
        ASSERT_EQ(rc2, 0);
        ASSERT_GT(whole_len, 4);
        ASSERT_EQ(whole_len, bytewise_len);
        ASSERT_MEM_EQ(whole, bytewise, whole_len);
        ASSERT_EQ(left1, left2);
    }
}

TEST(crlf_byte_at_a_time_expected_frames)
{
    const char s[] = "a\r\nbb\rb\r\n\nc\r\n\r\n\r\r\nxyz";
    char out[64];
    size_t out_len, left;
    ASSERT_EQ(decode_lines(SQ_DELIM_CRLF, 16, s, sizeof s - 1, 1, out, &out_len, &left), 0);
    const char want[] = "a|bb\rb|\nc||\r|";
    ASSERT_EQ(out_len, sizeof want - 1);
    ASSERT_MEM_EQ(out, want, sizeof want - 1);
    ASSERT_EQ(left, 3);
}

TEST(exactly_max_line_is_accepted)
{
    char s[12];
    memset(s, 'x', 10);
    memcpy(s + 10, "\r\n", 2);
    size_t fl = 0, used = 0;
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 10, s, 12, &fl, &used), 1);
    ASSERT_EQ(fl, 10);
    ASSERT_EQ(used, 12);
    s[10] = '\n';
    ASSERT_EQ(line_once(SQ_DELIM_LF, 10, s, 11, &fl, &used), 1);
    ASSERT_EQ(fl, 10);
    ASSERT_EQ(line_once(SQ_DELIM_LF, 10, s, 10, &fl, &used), 0);
}

TEST(exactly_max_line_fed_bytewise_is_accepted)
{
    char s[12];
    memset(s, 'x', 10);
    memcpy(s + 10, "\r\n", 2);
    char out[32];
    size_t out_len, left;
    ASSERT_EQ(decode_lines(SQ_DELIM_CRLF, 10, s, 12, 1, out, &out_len, &left), 0);
    ASSERT_EQ(out_len, 11);
    ASSERT_EQ(left, 0);
}

TEST(over_long_line_rejected_before_delimiter)
{
    char s[11];
    memset(s, 'x', sizeof s);
    size_t fl = 0, used = 0;
    /* max_line + 1 bytes, no delimiter anywhere yet. */
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 10, s, 11, &fl, &used), -EMSGSIZE);
    ASSERT_EQ(line_once(SQ_DELIM_LF, 10, s, 11, &fl, &used), -EMSGSIZE);
    ASSERT_EQ(line_once(SQ_DELIM_NUL, 10, s, 11, &fl, &used), -EMSGSIZE);
    ASSERT_EQ(line_once(SQ_DELIM_LF, 10, s, 10, &fl, &used), 0);
}

TEST(over_long_line_rejected_fed_bytewise)
{
    char s[200];
    memset(s, 'x', sizeof s);
    sq_line_codec c;
    sq_line_codec_init(&c, SQ_DELIM_CRLF, 50);
    size_t fl, used;
    int rc = 0;
    size_t n = 0;
    while (rc == 0 && n < sizeof s)
        rc = sq_line_decode(&c, s, ++n, &fl, &used);
    ASSERT_EQ(rc, -EMSGSIZE);
    ASSERT_EQ(n, 51);
}

TEST(over_long_line_with_delimiter_present_rejected)
{
    const char s[] = "0123456789AB\r\n";
    size_t fl = 0, used = 0;
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 10, s, sizeof s - 1, &fl, &used), -EMSGSIZE);
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 11, s, sizeof s - 1, &fl, &used), -EMSGSIZE);
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 12, s, sizeof s - 1, &fl, &used), 1);
    ASSERT_EQ(fl, 12);
}

TEST(crlf_max_line_plus_cr_waits_then_decides)
{
    char s[12];
    memset(s, 'x', 10);
    s[10] = '\r';
    s[11] = 'y';
    size_t fl = 0, used = 0;
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 10, s, 11, &fl, &used), 0);
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 10, s, 12, &fl, &used), -EMSGSIZE);
}

TEST(bare_lf_does_not_extend_crlf_limit)
{
    /* A bare "\n" just before the limit is content, so the line is long. */
    const char s[] = "xxxxxxxxx\nxx";
    size_t fl = 0, used = 0;
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, 10, s, sizeof s - 1, &fl, &used), -EMSGSIZE);
}

TEST(unlimited_line_length)
{
    size_t fl = 0, used = 0;
    ASSERT_EQ(line_once(SQ_DELIM_LF, (size_t)-1, "abc", 3, &fl, &used), 0);
    ASSERT_EQ(line_once(SQ_DELIM_CRLF, (size_t)-1, "abc\r\n", 5, &fl, &used), 1);
    ASSERT_EQ(fl, 3);
}

/* --- length-prefixed --------------------------------------------------- */

TEST(lenpfx_round_trip_all_widths_and_endians)
{
    static const unsigned widths[] = {1, 2, 4, 8};
    const char payload[] = "hello, frame";
    for (size_t w = 0; w < 4; w++) {
        for (int be = 0; be <= 1; be++) {
            sq_lenpfx_codec c = {.width = widths[w], .big_endian = be, .max_frame = 200};
            sq_buf out;
            sq_buf_init(&out, SQ_BUF_NO_LIMIT);
            ASSERT_EQ(sq_lenpfx_encode(&c, &out, payload, 12), 0);
            ASSERT_EQ(sq_lenpfx_encode(&c, &out, "", 0), 0);
            ASSERT_EQ(sq_buf_len(&out), 2 * widths[w] + 12);
            size_t hl = 0, fl = 0, used = 0;
            ASSERT_EQ(sq_lenpfx_decode(&c, sq_buf_peek(&out), sq_buf_len(&out), &hl, &fl, &used),
                      1);
            ASSERT_EQ(hl, widths[w]);
            ASSERT_EQ(fl, 12);
            ASSERT_EQ(used, widths[w] + 12);
            ASSERT_MEM_EQ(sq_buf_peek(&out) + hl, payload, 12);
            sq_buf_consume(&out, used);
            ASSERT_EQ(sq_lenpfx_decode(&c, sq_buf_peek(&out), sq_buf_len(&out), &hl, &fl, &used),
                      1);
            ASSERT_EQ(fl, 0);
            ASSERT_EQ(used, widths[w]);
            sq_buf_free(&out);
        }
    }
}

TEST(lenpfx_byte_order_on_the_wire)
{
    sq_lenpfx_codec be = {.width = 4, .big_endian = true, .max_frame = 1 << 20};
    sq_lenpfx_codec le = {.width = 4, .big_endian = false, .max_frame = 1 << 20};
    static char payload[0x10203];
    sq_buf out;
    sq_buf_init(&out, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(sq_lenpfx_encode(&be, &out, payload, sizeof payload), 0);
    ASSERT_MEM_EQ(sq_buf_peek(&out), "\x00\x01\x02\x03", 4);
    sq_buf_clear(&out);
    ASSERT_EQ(sq_lenpfx_encode(&le, &out, payload, sizeof payload), 0);
    ASSERT_MEM_EQ(sq_buf_peek(&out), "\x03\x02\x01\x00", 4);
    sq_buf_free(&out);

    sq_lenpfx_codec be8 = {.width = 8, .big_endian = true, .max_frame = UINT64_MAX};
    size_t hl, fl, used;
    ASSERT_EQ(sq_lenpfx_decode(&be8, "\0\0\0\0\0\0\0\x03xyz", 11, &hl, &fl, &used), 1);
    ASSERT_EQ(fl, 3);
    sq_lenpfx_codec le2 = {.width = 2, .big_endian = false, .max_frame = 1000};
    ASSERT_EQ(sq_lenpfx_decode(&le2, "\x02\x00xy", 4, &hl, &fl, &used), 1);
    ASSERT_EQ(fl, 2);
}

TEST(lenpfx_truncated_prefix_needs_more)
{
    sq_lenpfx_codec c = {.width = 4, .big_endian = true, .max_frame = 100};
    size_t hl = 7, fl = 7, used = 7;
    ASSERT_EQ(sq_lenpfx_decode(&c, "", 0, &hl, &fl, &used), 0);
    ASSERT_EQ(sq_lenpfx_decode(&c, "\0\0\0", 3, &hl, &fl, &used), 0);
    ASSERT_EQ(sq_lenpfx_decode(&c,
                               "\0\0\0\x05"
                               "abcd",
                               8, &hl, &fl, &used),
              0);
    ASSERT_EQ(used, 7);
    ASSERT_EQ(sq_lenpfx_decode(&c,
                               "\0\0\0\x05"
                               "abcde",
                               9, &hl, &fl, &used),
              1);
    ASSERT_EQ(used, 9);
}

TEST(lenpfx_oversize_rejected_from_prefix_alone)
{
    sq_lenpfx_codec c = {.width = 2, .big_endian = true, .max_frame = 100};
    size_t hl, fl, used;
    ASSERT_EQ(sq_lenpfx_decode(&c, "\x00\x65", 2, &hl, &fl, &used), -EMSGSIZE); /* 101 */
    ASSERT_EQ(sq_lenpfx_decode(&c, "\x00\x64", 2, &hl, &fl, &used), 0);         /* 100 */
    sq_lenpfx_codec c8 = {.width = 8, .big_endian = false, .max_frame = UINT64_MAX};
    ASSERT_EQ(sq_lenpfx_decode(&c8, "\xff\xff\xff\xff\xff\xff\xff\xff", 8, &hl, &fl, &used),
              -EMSGSIZE);
}

TEST(lenpfx_encode_rejects_oversize_and_appends_nothing)
{
    char payload[300] = {0};
    sq_buf out;
    sq_buf_init(&out, SQ_BUF_NO_LIMIT);
    sq_lenpfx_codec c = {.width = 2, .big_endian = true, .max_frame = 100};
    ASSERT_EQ(sq_lenpfx_encode(&c, &out, payload, 101), -EMSGSIZE);
    ASSERT_EQ(sq_buf_len(&out), 0);
    sq_lenpfx_codec c1 = {.width = 1, .big_endian = true, .max_frame = 1000};
    ASSERT_EQ(sq_lenpfx_encode(&c1, &out, payload, 256), -EMSGSIZE); /* width can't say 256 */
    ASSERT_EQ(sq_lenpfx_encode(&c1, &out, payload, 255), 0);
    ASSERT_EQ(sq_buf_len(&out), 256);
    sq_buf_clear(&out);
    static char big[65536];
    sq_lenpfx_codec c2 = {.width = 2, .big_endian = false, .max_frame = 1 << 20};
    ASSERT_EQ(sq_lenpfx_encode(&c2, &out, big, 65536), -EMSGSIZE);
    ASSERT_EQ(sq_buf_len(&out), 0);
    ASSERT_EQ(sq_lenpfx_encode(&c2, &out, big, 65535), 0);
    ASSERT_MEM_EQ(sq_buf_peek(&out), "\xff\xff", 2);
    sq_buf_free(&out);
}

TEST(lenpfx_encode_past_buffer_limit_appends_nothing)
{
    char payload[50] = {0};
    sq_buf out;
    sq_buf_init(&out, 53);
    sq_lenpfx_codec c = {.width = 4, .big_endian = true, .max_frame = 100};
    ASSERT_EQ(sq_lenpfx_encode(&c, &out, payload, 50), -ENOBUFS);
    ASSERT_EQ(sq_buf_len(&out), 0);
    ASSERT_EQ(sq_lenpfx_encode(&c, &out, payload, 49), 0);
    ASSERT_EQ(sq_buf_len(&out), 53);
    sq_buf_free(&out);
}

TEST(lenpfx_bad_width_is_einval)
{
    sq_lenpfx_codec c = {.width = 3, .big_endian = true, .max_frame = 100};
    size_t hl, fl, used;
    sq_buf out;
    sq_buf_init(&out, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(sq_lenpfx_decode(&c, "\0\0\0\0", 4, &hl, &fl, &used), -EINVAL);
    ASSERT_EQ(sq_lenpfx_encode(&c, &out, "x", 1), -EINVAL);
    sq_buf_free(&out);
}

TEST(lenpfx_many_frames_bytewise)
{
    sq_lenpfx_codec c = {.width = 2, .big_endian = false, .max_frame = 100};
    sq_buf out;
    sq_buf_init(&out, SQ_BUF_NO_LIMIT);
    const char *frames[] = {"a", "", "bcd", "efghij"};
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(sq_lenpfx_encode(&c, &out, frames[i], strlen(frames[i])), 0);
    const char *s = sq_buf_peek(&out);
    size_t len = sq_buf_len(&out), start = 0, got = 0;
    for (size_t visible = 1; visible <= len; visible++) {
        size_t hl, fl, used;
        int rc;
        while ((rc = sq_lenpfx_decode(&c, s + start, visible - start, &hl, &fl, &used)) == 1) {
            ASSERT_LT(got, 4);
            ASSERT_EQ(fl, strlen(frames[got]));
            ASSERT_MEM_EQ(s + start + hl, frames[got], fl);
            start += used;
            got++;
        }
        ASSERT_EQ(rc, 0);
    }
    ASSERT_EQ(got, 4);
    ASSERT_EQ(start, len);
    sq_buf_free(&out);
}

/* --- body codec -------------------------------------------------------- */

TEST(body_complete_with_terminator)
{
    sq_body_codec c = {.body_len = 5, .terminator = "\r\n", .terminator_len = 2};
    size_t used = 0;
    ASSERT_EQ(sq_body_decode(&c, "hello\r\nnext", 11, &used), 1);
    ASSERT_EQ(used, 7);
}

TEST(body_empty)
{
    sq_body_codec c = {.body_len = 0, .terminator = "\r\n", .terminator_len = 2};
    size_t used = 0;
    ASSERT_EQ(sq_body_decode(&c, "", 0, &used), 0);
    ASSERT_EQ(sq_body_decode(&c, "\r", 1, &used), 0);
    ASSERT_EQ(sq_body_decode(&c, "\r\n", 2, &used), 1);
    ASSERT_EQ(used, 2);
}

TEST(body_may_contain_terminator_bytes)
{
    sq_body_codec c = {.body_len = 4, .terminator = "\r\n", .terminator_len = 2};
    size_t used = 0;
    ASSERT_EQ(sq_body_decode(&c, "\r\n\r\n\r\n", 6, &used), 1);
    ASSERT_EQ(used, 6);
}

TEST(body_partial_needs_more)
{
    sq_body_codec c = {.body_len = 5, .terminator = "\r\n", .terminator_len = 2};
    size_t used = 77;
    ASSERT_EQ(sq_body_decode(&c, "hel", 3, &used), 0);
    ASSERT_EQ(sq_body_decode(&c, "hello", 5, &used), 0);
    ASSERT_EQ(sq_body_decode(&c, "hello\r", 6, &used), 0);
    ASSERT_EQ(used, 77);
}

TEST(body_wrong_first_terminator_byte_fails_at_once)
{
    sq_body_codec c = {.body_len = 5, .terminator = "\r\n", .terminator_len = 2};
    size_t used;
    ASSERT_EQ(sq_body_decode(&c, "helloX", 6, &used), -EBADMSG);
}

TEST(body_wrong_second_terminator_byte_fails)
{
    sq_body_codec c = {.body_len = 5, .terminator = "\r\n", .terminator_len = 2};
    size_t used;
    ASSERT_EQ(sq_body_decode(&c, "hello\rX", 7, &used), -EBADMSG);
    ASSERT_EQ(sq_body_decode(&c, "hello\n\r", 7, &used), -EBADMSG);
}

TEST(body_split_input_bytewise)
{
    const char s[] = "abc\r\n";
    sq_body_codec c = {.body_len = 3, .terminator = "\r\n", .terminator_len = 2};
    size_t used = 0;
    for (size_t n = 0; n < 5; n++)
        ASSERT_EQ(sq_body_decode(&c, s, n, &used), 0);
    ASSERT_EQ(sq_body_decode(&c, s, 5, &used), 1);
    ASSERT_EQ(used, 5);

    const char bad[] = "abcde";
    int rc = 0;
    size_t n = 0;
    while (rc == 0 && n < 5)
        rc = sq_body_decode(&c, bad, ++n, &used);
    ASSERT_EQ(rc, -EBADMSG);
    ASSERT_EQ(n, 4); /* the first wrong terminator byte */
}

TEST(body_without_terminator)
{
    sq_body_codec c = {.body_len = 3, .terminator = "", .terminator_len = 0};
    size_t used = 0;
    ASSERT_EQ(sq_body_decode(&c, "ab", 2, &used), 0);
    ASSERT_EQ(sq_body_decode(&c, "abc", 3, &used), 1);
    ASSERT_EQ(used, 3);
}

TEST(body_huge_announced_length_waits)
{
    sq_body_codec c = {.body_len = UINT64_MAX - 1, .terminator = "\r\n", .terminator_len = 2};
    size_t used;
    ASSERT_EQ(sq_body_decode(&c, "abc", 3, &used), 0);
}

TEST(body_skip_accounting)
{
    uint64_t remaining = 10 + 2; /* body + "\r\n" */
    ASSERT_EQ(sq_body_skip(&remaining, 4), 4);
    ASSERT_EQ(remaining, 8);
    ASSERT_EQ(sq_body_skip(&remaining, 0), 0);
    ASSERT_EQ(remaining, 8);
    /* More at hand than remains: only the body's bytes are taken, the next
     * command stays in the input. */
    ASSERT_EQ(sq_body_skip(&remaining, 20), 8);
    ASSERT_EQ(remaining, 0);
    ASSERT_EQ(sq_body_skip(&remaining, 5), 0);
    ASSERT_EQ(remaining, 0);
}

TEST(body_skip_huge_remaining)
{
    uint64_t remaining = UINT64_MAX;
    ASSERT_EQ(sq_body_skip(&remaining, 4096), 4096);
    ASSERT_TRUE(remaining == UINT64_MAX - 4096);
}

TEST_MAIN()
