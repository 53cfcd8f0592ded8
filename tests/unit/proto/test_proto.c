/*
 * Unit tests for src/proto/proto.c. Every input whose verdict is asserted here was first sent to
 * Debian's beanstalkd 1.12 and its reply recorded; the tests pin synqd to those replies.
 */
#include "proto_test_util.h"

/* ---- every command parses with its arguments ---- */

TEST(put_parses_all_four_numbers)
{
    proto_cmd c;
    ASSERT_EQ(parse("put 10 20 30 40", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_PUT);
    ASSERT_EQ(c.pri, 10);
    ASSERT_EQ(c.delay_s, 20);
    ASSERT_EQ(c.ttr_s, 30);
    ASSERT_EQ(c.body_len, 40);
    ASSERT_TRUE(c.counted);
}

TEST(put_accepts_extra_spaces_between_numbers)
{
    proto_cmd c;
    ASSERT_EQ(parse("put  0  0  0  5", &c), PROTO_OK);
    ASSERT_EQ(c.body_len, 5);
}

TEST(put_accepts_u32_max_everywhere)
{
    proto_cmd c;
    ASSERT_EQ(parse("put 4294967295 4294967295 4294967295 4294967295", &c), PROTO_OK);
    ASSERT_EQ(c.pri, UINT32_MAX);
    ASSERT_EQ(c.delay_s, UINT32_MAX);
    ASSERT_EQ(c.ttr_s, UINT32_MAX);
    ASSERT_EQ(c.body_len, UINT32_MAX);
}

TEST(put_ttr_zero_is_reported_as_given)
{
    proto_cmd c;
    ASSERT_EQ(parse("put 0 0 0 0", &c), PROTO_OK);
    ASSERT_EQ(c.ttr_s, 0);
    ASSERT_EQ(c.body_len, 0);
}

TEST(use_watch_ignore_stats_tube_take_the_name)
{
    static const struct {
        const char *line;
        proto_cmd_type type;
        size_t off;
    } cases[] = {
        {"use foo", CMD_USE, 4},
        {"watch foo", CMD_WATCH, 6},
        {"ignore foo", CMD_IGNORE, 7},
        {"stats-tube foo", CMD_STATS_TUBE, 11},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proto_cmd c;
        ASSERT_EQ(parse(cases[i].line, &c), PROTO_OK);
        ASSERT_EQ(c.type, cases[i].type);
        ASSERT_EQ(c.tube_len, 3);
        ASSERT_TRUE(c.tube == cases[i].line + cases[i].off);
        ASSERT_MEM_EQ(c.tube, "foo", 3);
    }
}

TEST(id_commands_take_the_id)
{
    static const struct {
        const char *line;
        proto_cmd_type type;
    } cases[] = {
        {"peek 7", CMD_PEEK},     {"reserve-job 7", CMD_RESERVE_JOB},
        {"delete 7", CMD_DELETE}, {"kick-job 7", CMD_KICK_JOB},
        {"touch 7", CMD_TOUCH},   {"stats-job 7", CMD_STATS_JOB},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proto_cmd c;
        ASSERT_EQ(parse(cases[i].line, &c), PROTO_OK);
        ASSERT_EQ(c.type, cases[i].type);
        ASSERT_EQ(c.id, 7);
    }
}

TEST(no_argument_commands_parse)
{
    static const struct {
        const char *line;
        proto_cmd_type type;
    } cases[] = {
        {"reserve", CMD_RESERVE},
        {"peek-ready", CMD_PEEK_READY},
        {"peek-delayed", CMD_PEEK_DELAYED},
        {"peek-buried", CMD_PEEK_BURIED},
        {"stats", CMD_STATS},
        {"list-tubes", CMD_LIST_TUBES},
        {"list-tube-used", CMD_LIST_TUBE_USED},
        {"list-tubes-watched", CMD_LIST_TUBES_WATCHED},
        {"quit", CMD_QUIT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proto_cmd c;
        ASSERT_EQ(parse(cases[i].line, &c), PROTO_OK);
        ASSERT_EQ(c.type, cases[i].type);
    }
}

TEST(release_takes_id_pri_delay)
{
    proto_cmd c;
    ASSERT_EQ(parse("release 5 6 7", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_RELEASE);
    ASSERT_EQ(c.id, 5);
    ASSERT_EQ(c.pri, 6);
    ASSERT_EQ(c.delay_s, 7);
    ASSERT_EQ(parse("release  1  2  3", &c), PROTO_OK);
    ASSERT_EQ(c.delay_s, 3);
}

TEST(bury_takes_id_pri)
{
    proto_cmd c;
    ASSERT_EQ(parse("bury 5 6", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_BURY);
    ASSERT_EQ(c.id, 5);
    ASSERT_EQ(c.pri, 6);
}

TEST(kick_takes_bound)
{
    proto_cmd c;
    ASSERT_EQ(parse("kick 5", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_KICK);
    ASSERT_EQ(c.bound, 5);
}

TEST(reserve_with_timeout_takes_seconds)
{
    proto_cmd c;
    ASSERT_EQ(parse("reserve-with-timeout 30", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_RESERVE_WITH_TIMEOUT);
    ASSERT_EQ(c.timeout_s, 30);
    ASSERT_EQ(parse("reserve-with-timeout 2147483647", &c), PROTO_OK);
    ASSERT_EQ(c.timeout_s, 2147483647);
}

TEST(pause_tube_takes_name_and_delay)
{
    proto_cmd c;
    const char *line = "pause-tube  default  5";
    ASSERT_EQ(parse(line, &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_PAUSE_TUBE);
    ASSERT_EQ(c.tube_len, 7);
    ASSERT_TRUE(c.tube == line + 12);
    ASSERT_EQ(c.delay_s, 5);
}

/* ---- command recognition ---- */

TEST(empty_line_is_unknown_command)
{
    proto_cmd c;
    ASSERT_EQ(proto_parse("", 0, &c), PROTO_UNKNOWN_COMMAND);
    ASSERT_EQ(proto_parse(NULL, 0, &c), PROTO_UNKNOWN_COMMAND);
    ASSERT_EQ(c.type, CMD_COUNT_);
}

TEST(names_are_case_sensitive)
{
    EXPECT("PUT 0 0 0 1", PROTO_UNKNOWN_COMMAND);
    EXPECT("Stats", PROTO_UNKNOWN_COMMAND);
}

TEST(name_without_its_space_is_unknown)
{
    EXPECT("put", PROTO_UNKNOWN_COMMAND);
    EXPECT("use", PROTO_UNKNOWN_COMMAND);
    EXPECT("watch", PROTO_UNKNOWN_COMMAND);
    EXPECT("ignore", PROTO_UNKNOWN_COMMAND);
    EXPECT("peek", PROTO_UNKNOWN_COMMAND);
    EXPECT("kick", PROTO_UNKNOWN_COMMAND);
    EXPECT("kick-job", PROTO_UNKNOWN_COMMAND);
    EXPECT("delete", PROTO_UNKNOWN_COMMAND);
    EXPECT("touch", PROTO_UNKNOWN_COMMAND);
    EXPECT("list-tube", PROTO_UNKNOWN_COMMAND);
    EXPECT("list", PROTO_UNKNOWN_COMMAND);
}

TEST(no_argument_commands_reject_anything_after_them)
{
    EXPECT("peek-readyX", PROTO_BAD_FORMAT);
    EXPECT("peek-ready ", PROTO_BAD_FORMAT);
    EXPECT("peek-delayed ", PROTO_BAD_FORMAT);
    EXPECT("peek-buriedX", PROTO_BAD_FORMAT);
    EXPECT("reserve ", PROTO_BAD_FORMAT);
    EXPECT("reservefoo", PROTO_BAD_FORMAT);
    EXPECT("stats ", PROTO_BAD_FORMAT);
    EXPECT("statsX", PROTO_BAD_FORMAT);
    EXPECT("list-tubes ", PROTO_BAD_FORMAT);
    EXPECT("list-tubesX", PROTO_BAD_FORMAT);
    EXPECT("list-tube-usedX", PROTO_BAD_FORMAT);
    EXPECT("list-tubes-watchedfoo", PROTO_BAD_FORMAT);
}

TEST(longer_names_missing_their_space_fall_into_a_shorter_prefix)
{
    proto_cmd c;
    /* "stats-tube" matches "stats" and then has trailing bytes. */
    ASSERT_EQ(parse("stats-tube", &c), PROTO_BAD_FORMAT);
    ASSERT_EQ(c.type, CMD_STATS);
    EXPECT("stats-job", PROTO_BAD_FORMAT);
    ASSERT_EQ(parse("reserve-with-timeout", &c), PROTO_BAD_FORMAT);
    ASSERT_EQ(c.type, CMD_RESERVE);
    EXPECT("reserve-job", PROTO_BAD_FORMAT);
}

TEST(quit_matches_as_a_prefix)
{
    proto_cmd c;
    ASSERT_EQ(parse("quitfoo", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_QUIT);
    ASSERT_EQ(parse("quit ", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_QUIT);
}

TEST(pause_tube_needs_no_space_after_its_name)
{
    proto_cmd c;
    ASSERT_EQ(parse("pause-tubedefault 0", &c), PROTO_OK);
    ASSERT_EQ(c.tube_len, 7);
    ASSERT_MEM_EQ(c.tube, "default", 7);
}

TEST(nul_byte_anywhere_is_bad_format)
{
    proto_cmd c;
    ASSERT_EQ(proto_parse("stats\0", 6, &c), PROTO_BAD_FORMAT);
    ASSERT_EQ(c.type, CMD_COUNT_);
    ASSERT_EQ(proto_parse("foo\0", 4, &c), PROTO_BAD_FORMAT);
    ASSERT_EQ(proto_parse("\0", 1, &c), PROTO_BAD_FORMAT);
    ASSERT_EQ(proto_parse("use a\0b", 7, &c), PROTO_BAD_FORMAT);
    ASSERT_EQ(proto_parse("quit\0", 5, &c), PROTO_BAD_FORMAT);
    ASSERT_TRUE(!c.counted);
}

/* ---- numbers: put, release, bury and the id commands ---- */

TEST(numbers_reject_sign_and_non_digits)
{
    EXPECT("put 0 0 0 +5", PROTO_BAD_FORMAT);
    EXPECT("put 0 0 0 -5", PROTO_BAD_FORMAT);
    EXPECT("put 0 0 x 5", PROTO_BAD_FORMAT);
    EXPECT("put 0\t0 0 5", PROTO_BAD_FORMAT);
    EXPECT("delete +5", PROTO_BAD_FORMAT);
    EXPECT("delete -5", PROTO_BAD_FORMAT);
    EXPECT("reserve-job -1", PROTO_BAD_FORMAT);
    EXPECT("kick-job x", PROTO_BAD_FORMAT);
}

TEST(numbers_accept_leading_zeros_and_spaces)
{
    proto_cmd c;
    ASSERT_EQ(parse("delete 007", &c), PROTO_OK);
    ASSERT_EQ(c.id, 7);
    ASSERT_EQ(parse("delete  5", &c), PROTO_OK);
    ASSERT_EQ(c.id, 5);
    ASSERT_EQ(parse("peek 0000000000000000000000000000000000000001", &c), PROTO_OK);
    ASSERT_EQ(c.id, 1);
}

TEST(missing_numbers_are_bad_format)
{
    EXPECT("put ", PROTO_BAD_FORMAT);
    EXPECT("put 0 0 0", PROTO_BAD_FORMAT);
    EXPECT("delete ", PROTO_BAD_FORMAT);
    EXPECT("release 1 2", PROTO_BAD_FORMAT);
    EXPECT("bury 1", PROTO_BAD_FORMAT);
    EXPECT("reserve-job ", PROTO_BAD_FORMAT);
}

TEST(trailing_bytes_after_numbers_are_bad_format)
{
    EXPECT("delete 5 ", PROTO_BAD_FORMAT);
    EXPECT("peek 1 ", PROTO_BAD_FORMAT);
    EXPECT("release 1 2 3 ", PROTO_BAD_FORMAT);
    EXPECT("bury 1 2 3", PROTO_BAD_FORMAT);
    EXPECT("touch 1x", PROTO_BAD_FORMAT);
}

TEST(u32_fields_stop_at_u32_max)
{
    EXPECT("put 4294967296 0 0 1", PROTO_BAD_FORMAT);
    EXPECT("put 0 4294967296 0 1", PROTO_BAD_FORMAT);
    EXPECT("put 0 0 4294967296 1", PROTO_BAD_FORMAT);
    EXPECT("put 0 0 0 4294967296", PROTO_BAD_FORMAT);
    EXPECT("release 1 4294967296 3", PROTO_BAD_FORMAT);
    EXPECT("release 1 2 4294967296", PROTO_BAD_FORMAT);
    EXPECT("bury 1 4294967296", PROTO_BAD_FORMAT);
    EXPECT("pause-tube default 4294967296", PROTO_BAD_FORMAT);
}

TEST(ids_go_to_u64_max)
{
    proto_cmd c;
    ASSERT_EQ(parse("delete 18446744073709551615", &c), PROTO_OK);
    ASSERT_TRUE(c.id == UINT64_MAX);
    EXPECT("delete 18446744073709551616", PROTO_BAD_FORMAT);
    EXPECT("delete 99999999999999999999999", PROTO_BAD_FORMAT);
    EXPECT("release 18446744073709551616 2 3", PROTO_BAD_FORMAT);
}

TEST(put_with_trailing_bytes_is_counted_and_keeps_body_len)
{
    proto_cmd c;
    ASSERT_EQ(parse("put 0 0 0 5 x", &c), PROTO_BAD_FORMAT);
    ASSERT_EQ(c.type, CMD_PUT);
    ASSERT_TRUE(c.counted);
    ASSERT_EQ(c.body_len, 5);
    ASSERT_EQ(parse("put 0 0 0 99999999 ", &c), PROTO_BAD_FORMAT);
    ASSERT_TRUE(c.counted);
    ASSERT_EQ(c.body_len, 99999999);
}

TEST(put_with_bad_numbers_is_not_counted)
{
    proto_cmd c;
    ASSERT_EQ(parse("put 1 x", &c), PROTO_BAD_FORMAT);
    ASSERT_EQ(c.type, CMD_PUT);
    ASSERT_TRUE(!c.counted);
}

/* ---- kick: strtoul rules ---- */

TEST(kick_follows_strtoul)
{
    proto_cmd c;
    ASSERT_EQ(parse("kick -1", &c), PROTO_OK);
    ASSERT_EQ(c.bound, UINT32_MAX);
    ASSERT_EQ(parse("kick 4294967296", &c), PROTO_OK);
    ASSERT_EQ(c.bound, 0);
    ASSERT_EQ(parse("kick 4294967297", &c), PROTO_OK);
    ASSERT_EQ(c.bound, 1);
    ASSERT_EQ(parse("kick 5abc", &c), PROTO_OK);
    ASSERT_EQ(c.bound, 5);
    ASSERT_EQ(parse("kick \t7", &c), PROTO_OK);
    ASSERT_EQ(c.bound, 7);
    ASSERT_EQ(parse("kick \n2", &c), PROTO_OK);
    ASSERT_EQ(c.bound, 2);
    ASSERT_EQ(parse("kick +3", &c), PROTO_OK);
    ASSERT_EQ(c.bound, 3);
    ASSERT_EQ(parse("kick 0x10", &c), PROTO_OK);
    ASSERT_EQ(c.bound, 0);
    ASSERT_EQ(parse("kick -18446744073709551615", &c), PROTO_OK);
    ASSERT_EQ(c.bound, 1);
    ASSERT_EQ(parse("kick 18446744073709551615", &c), PROTO_OK);
    ASSERT_EQ(c.bound, UINT32_MAX);
}

TEST(kick_without_digits_or_overflowing_is_bad_format)
{
    EXPECT("kick ", PROTO_BAD_FORMAT);
    EXPECT("kick abc", PROTO_BAD_FORMAT);
    EXPECT("kick - 3", PROTO_BAD_FORMAT);
    EXPECT("kick -", PROTO_BAD_FORMAT);
    EXPECT("kick 18446744073709551616", PROTO_BAD_FORMAT);
    EXPECT("kick -18446744073709551616", PROTO_BAD_FORMAT);
}

/* ---- reserve-with-timeout: strtol rules ---- */

TEST(reserve_with_timeout_follows_strtol)
{
    proto_cmd c;
    ASSERT_EQ(parse("reserve-with-timeout abc", &c), PROTO_OK);
    ASSERT_EQ(c.timeout_s, 0);
    ASSERT_EQ(parse("reserve-with-timeout -", &c), PROTO_OK);
    ASSERT_EQ(c.timeout_s, 0);
    ASSERT_EQ(parse("reserve-with-timeout 0 junk", &c), PROTO_OK);
    ASSERT_EQ(c.timeout_s, 0);
    ASSERT_EQ(parse("reserve-with-timeout \t+0", &c), PROTO_OK);
    ASSERT_EQ(c.timeout_s, 0);
    ASSERT_EQ(parse("reserve-with-timeout 1\nx", &c), PROTO_OK);
    ASSERT_EQ(c.timeout_s, 1);
    ASSERT_EQ(parse("reserve-with-timeout 4294967296", &c), PROTO_OK);
    ASSERT_EQ(c.timeout_s, 0);
    ASSERT_EQ(parse("reserve-with-timeout 4294967297", &c), PROTO_OK);
    ASSERT_EQ(c.timeout_s, 1);
    ASSERT_EQ(parse("reserve-with-timeout -4294967296", &c), PROTO_OK);
    ASSERT_EQ(c.timeout_s, 0);
    ASSERT_EQ(parse("reserve-with-timeout -9223372036854775808", &c), PROTO_OK);
    ASSERT_EQ(c.timeout_s, 0);
}

TEST(reserve_with_timeout_negative_int_waits_forever)
{
    proto_cmd c;
    ASSERT_EQ(parse("reserve-with-timeout -1", &c), PROTO_OK);
    ASSERT_EQ(c.timeout_s, PROTO_TIMEOUT_FOREVER);
    ASSERT_EQ(parse("reserve-with-timeout 4294967295", &c), PROTO_OK);
    ASSERT_EQ(c.timeout_s, PROTO_TIMEOUT_FOREVER);
    ASSERT_EQ(parse("reserve-with-timeout 2147483648", &c), PROTO_OK);
    ASSERT_EQ(c.timeout_s, PROTO_TIMEOUT_FOREVER);
}

TEST(reserve_with_timeout_outside_long_is_bad_format)
{
    EXPECT("reserve-with-timeout 9223372036854775808", PROTO_BAD_FORMAT);
    EXPECT("reserve-with-timeout -9223372036854775809", PROTO_BAD_FORMAT);
    EXPECT("reserve-with-timeout 99999999999999999999", PROTO_BAD_FORMAT);
}

/* ---- tube names ---- */

TEST(tube_name_of_200_bytes_is_accepted_201_rejected)
{
    proto_cmd c;
    ASSERT_EQ(parse(repeat("use ", 'a', 200, ""), &c), PROTO_OK);
    ASSERT_EQ(c.tube_len, 200);
    EXPECT(repeat("use ", 'a', 201, ""), PROTO_BAD_FORMAT);
    EXPECT(repeat("watch ", 'a', 200, ""), PROTO_OK);
    EXPECT(repeat("ignore ", 'a', 201, ""), PROTO_BAD_FORMAT);
    EXPECT(repeat("stats-tube ", 'a', 201, ""), PROTO_BAD_FORMAT);
    ASSERT_EQ(parse(repeat("pause-tube ", 'a', 200, " 1"), &c), PROTO_OK);
    ASSERT_EQ(c.tube_len, 200);
}

TEST(all_valid_tube_name_bytes_are_accepted)
{
    proto_cmd c;
    const char *line =
        "use ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-+/;.$_()";
    ASSERT_EQ(parse(line, &c), PROTO_OK);
    ASSERT_EQ(c.tube_len, strlen(line) - 4);
}

TEST(every_other_byte_is_rejected_in_a_tube_name)
{
    static const char ok[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-+/;.$_()";
    for (int b = 1; b < 256; b++) {
        char line[8] = "use a?";
        line[5] = (char)b;
        proto_cmd c;
        proto_status want = strchr(ok, b) ? PROTO_OK : PROTO_BAD_FORMAT;
        if (proto_parse(line, 6, &c) != want)
            TEST_FAIL_("byte 0x%02x: got %d, want %d", b, (int)proto_parse(line, 6, &c), (int)want);
    }
}

TEST(tube_name_starting_with_dash_is_rejected)
{
    EXPECT("use -a", PROTO_BAD_FORMAT);
    EXPECT("watch -a", PROTO_BAD_FORMAT);
    EXPECT("stats-tube -a", PROTO_BAD_FORMAT);
    EXPECT("use a-", PROTO_OK);
}

TEST(tube_name_with_spaces_around_is_rejected)
{
    EXPECT("use ", PROTO_BAD_FORMAT);
    EXPECT("use a ", PROTO_BAD_FORMAT);
    EXPECT("use  a", PROTO_BAD_FORMAT);
    EXPECT("use a b", PROTO_BAD_FORMAT);
    EXPECT("use a*", PROTO_BAD_FORMAT);
    EXPECT("ignore ", PROTO_BAD_FORMAT);
    EXPECT("stats-tube default ", PROTO_BAD_FORMAT);
}

TEST(pause_tube_argument_errors)
{
    EXPECT("pause-tube", PROTO_BAD_FORMAT);
    EXPECT("pause-tube default", PROTO_BAD_FORMAT);
    EXPECT("pause-tube default x", PROTO_BAD_FORMAT);
    EXPECT("pause-tube default 5 ", PROTO_BAD_FORMAT);
    EXPECT("pause-tube default\t5", PROTO_BAD_FORMAT);
    EXPECT("pause-tube default5", PROTO_BAD_FORMAT);
}

TEST(pause_tube_bad_name_is_counted_other_errors_not)
{
    proto_cmd c;
    ASSERT_EQ(parse("pause-tube -x 0", &c), PROTO_BAD_FORMAT);
    ASSERT_TRUE(c.counted);
    ASSERT_EQ(parse(repeat("pause-tube ", 'a', 201, " 1"), &c), PROTO_BAD_FORMAT);
    ASSERT_TRUE(c.counted);
    ASSERT_EQ(parse("pause-tube default x", &c), PROTO_BAD_FORMAT);
    ASSERT_TRUE(!c.counted);
}

/* ---- stat names ---- */

TEST(stat_names_match_beanstalkd_counters)
{
    ASSERT_STR_EQ(proto_cmd_stat_name(CMD_PUT), "cmd-put");
    ASSERT_STR_EQ(proto_cmd_stat_name(CMD_RESERVE_WITH_TIMEOUT), "cmd-reserve-with-timeout");
    ASSERT_STR_EQ(proto_cmd_stat_name(CMD_LIST_TUBES_WATCHED), "cmd-list-tubes-watched");
    ASSERT_STR_EQ(proto_cmd_stat_name(CMD_PAUSE_TUBE), "cmd-pause-tube");
    ASSERT_TRUE(proto_cmd_stat_name(CMD_KICK_JOB) == NULL);
    ASSERT_TRUE(proto_cmd_stat_name(CMD_RESERVE_JOB) == NULL);
    ASSERT_TRUE(proto_cmd_stat_name(CMD_QUIT) == NULL);
    ASSERT_TRUE(proto_cmd_stat_name(CMD_COUNT_) == NULL);
    size_t named = 0;
    for (int t = 0; t < CMD_COUNT_; t++)
        named += proto_cmd_stat_name((proto_cmd_type)t) != NULL;
    ASSERT_EQ(named, 22); /* beanstalkd's stats output has 22 cmd-* lines */
}

TEST(every_table_row_is_filled_and_its_name_parses_as_its_command)
{
    for (int t = 0; t < CMD_COUNT_; t++) {
        const proto_cmd_def *d = &proto_cmds[t];
        ASSERT_TRUE(d->name != NULL);
        ASSERT_EQ(d->name_len, strlen(d->name));
        /* The bare name is recognised as this command (with or without its arguments). */
        proto_cmd c;
        proto_parse(d->name, d->name_len, &c);
        ASSERT_EQ(c.type, (proto_cmd_type)t);
    }
}

TEST(the_stats_order_lists_each_counted_command_once)
{
    int seen[CMD_COUNT_] = {0};
    for (size_t i = 0; i < PROTO_STATS_CMDS; i++) {
        proto_cmd_type t = proto_stats_order[i];
        ASSERT_LT((int)t, CMD_COUNT_);
        ASSERT_TRUE(proto_cmds[t].stat_name != NULL);
        seen[t]++;
    }
    for (int t = 0; t < CMD_COUNT_; t++)
        ASSERT_EQ(seen[t], proto_cmds[t].stat_name != NULL ? 1 : 0);
    /* beanstalkd's order starts put, peek, ... and ends with pause-tube. */
    ASSERT_EQ(proto_stats_order[0], CMD_PUT);
    ASSERT_EQ(proto_stats_order[1], CMD_PEEK);
    ASSERT_EQ(proto_stats_order[PROTO_STATS_CMDS - 1], CMD_PAUSE_TUBE);
}

TEST(only_the_commands_beanstalkd_logs_are_marked_logged)
{
    for (int t = 0; t < CMD_COUNT_; t++) {
        bool logged = t == CMD_DELETE || t == CMD_RELEASE || t == CMD_BURY || t == CMD_KICK ||
                      t == CMD_KICK_JOB || t == CMD_FLUSH_TUBE || t == CMD_MOVE_JOBS ||
                      t == CMD_TUBE_SET;
        ASSERT_EQ((proto_cmds[t].flags & PROTO_CMD_LOGGED) != 0, logged);
    }
}

/* ---- proto_find_line ---- */

TEST(find_line_needs_more_on_partial_input)
{
    size_t used = 99;
    ASSERT_EQ(proto_find_line("", 0, &used), -1);
    ASSERT_EQ(proto_find_line("sta", 3, &used), -1);
    ASSERT_EQ(proto_find_line("stats\r", 6, &used), -1);
    ASSERT_EQ(used, 99);
    ASSERT_EQ(proto_find_line("stats\r\n", 7, &used), 5);
    ASSERT_EQ(used, 7);
}

TEST(find_line_fed_one_byte_at_a_time)
{
    const char *in = "use foo\r\n";
    size_t n = strlen(in), used = 0;
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ(proto_find_line(in, i, &used), -1);
    ASSERT_EQ(proto_find_line(in, n, &used), 7);
    ASSERT_EQ(used, n);
}

TEST(find_line_walks_many_lines_in_one_buffer)
{
    const char in[] = "stats\r\n\r\nuse a\r\nlist-tubes\r\npartial";
    const char *p = in;
    size_t left = sizeof in - 1, used;
    long lens[4];
    for (int i = 0; i < 4; i++) {
        lens[i] = proto_find_line(p, left, &used);
        ASSERT_GE(lens[i], 0);
        p += used;
        left -= used;
    }
    ASSERT_EQ(lens[0], 5);
    ASSERT_EQ(lens[1], 0);
    ASSERT_EQ(lens[2], 5);
    ASSERT_EQ(lens[3], 10);
    ASSERT_EQ(proto_find_line(p, left, &used), -1);
    ASSERT_EQ(left, 7);
}

TEST(find_line_bare_newline_is_not_a_line_end)
{
    size_t used;
    ASSERT_EQ(proto_find_line("stats\nstats\r\n", 13, &used), 11);
    ASSERT_EQ(used, 13);
}

TEST(find_line_first_cr_without_lf_hides_later_line_ends)
{
    size_t used;
    ASSERT_EQ(proto_find_line("stats\rx\r\nstats\r\n", 16, &used), -1);
    const char *long_in = repeat("x\rx\r\n", 'y', 300, "\r\n");
    ASSERT_EQ(proto_find_line(long_in, strlen(long_in), &used), -2);
    ASSERT_EQ(used, PROTO_MAX_LINE);
}

TEST(find_line_longest_line_is_222_bytes)
{
    size_t used;
    const char *in = repeat("", 'x', 222, "\r\n");
    ASSERT_EQ(proto_find_line(in, 224, &used), 222);
    ASSERT_EQ(used, 224);
    ASSERT_EQ(PROTO_MAX_LINE, 224);
}

TEST(find_line_too_long_at_224_bytes_without_line_end)
{
    size_t used = 0;
    const char *in = repeat("", 'x', 223, "\r\n");
    ASSERT_EQ(proto_find_line(in, 223, &used), -1);
    /* The '\r' at offset 223 is the 224th byte: beanstalkd does not look at it. */
    ASSERT_EQ(proto_find_line(in, 224, &used), -2);
    ASSERT_EQ(used, PROTO_MAX_LINE);
    ASSERT_EQ(proto_find_line(in, 225, &used), -2);
}

/* Drives proto_find_line the way the network layer must (see proto.h) and returns the replies
 * beanstalkd would give, one letter per line: B = BAD_FORMAT for a too-long line, L = a line
 * handed to the parser (its length appended), in out (FRAME_OUT_BYTES, cut short if need be). */
#define FRAME_OUT_BYTES 64
static void frame(const char *in, size_t len, char *out)
{
    bool skipping = false;
    size_t used;
    out[0] = '\0';
    for (;;) {
        long r = proto_find_line(in, len, &used);
        if (r == -1)
            return;
        if (r == -2) {
            skipping = true;
        } else if (skipping) {
            size_t o = strlen(out);
            snprintf(out + o, FRAME_OUT_BYTES - o, "B");
            skipping = false;
        } else {
            size_t o = strlen(out);
            snprintf(out + o, FRAME_OUT_BYTES - o, "L%ld", r);
        }
        in += used;
        len -= used;
    }
}

TEST(find_line_too_long_lines_give_one_bad_format_then_resume)
{
    char out[FRAME_OUT_BYTES];
    char in[1024];
    /* Verified with beanstalkd: 300 x's then a command → BAD_FORMAT, then the command runs. */
    snprintf(in, sizeof in, "%s", repeat("", 'x', 300, "\r\nstats-tube default\r\n"));
    frame(in, strlen(in), out);
    ASSERT_STR_EQ(out, "BL18");
    /* 224 x's: the CRLF starts the next chunk, so it ends the skipped line at once. */
    snprintf(in, sizeof in, "%s", repeat("", 'x', 224, "\r\nlist-tube-used\r\n"));
    frame(in, strlen(in), out);
    ASSERT_STR_EQ(out, "BL14");
    /* 223 and 447 x's: the CRLF straddles a dropped chunk's end and is missed, so the next
     * command is swallowed as the rest of the long line. */
    snprintf(in, sizeof in, "%s", repeat("", 'x', 223, "\r\nstats-tube default\r\n"));
    frame(in, strlen(in), out);
    ASSERT_STR_EQ(out, "B");
    snprintf(in, sizeof in, "%s", repeat("", 'x', 447, "\r\nlist-tube-used\r\n"));
    frame(in, strlen(in), out);
    ASSERT_STR_EQ(out, "B");
    snprintf(in, sizeof in, "%s", repeat("", 'x', 448, "\r\nlist-tube-used\r\n"));
    frame(in, strlen(in), out);
    ASSERT_STR_EQ(out, "BL14");
}

TEST_MAIN()
