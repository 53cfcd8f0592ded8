/*
 * Unit tests for the parsing of synqd's extension commands (src/proto/proto.c): the bulk
 * commands, tube settings and auth of docs/protocol.md "Extensions". A malformed argument
 * answers BAD_FORMAT, as beanstalkd does for its own commands.
 */
#include "proto_test_util.h"

/* ---- synqd's bulk extensions (issue 16 items 1-4) ---- */

TEST(flush_tube_parses_tube_and_state)
{
    proto_cmd c;
    ASSERT_EQ(parse("flush-tube jobs buried", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_FLUSH_TUBE);
    ASSERT_EQ(c.tube_len, 4);
    ASSERT_TRUE(memcmp(c.tube, "jobs", 4) == 0);
    ASSERT_EQ(c.states, PROTO_STATE_BURIED);
    ASSERT_TRUE(c.counted);
    ASSERT_EQ(parse("flush-tube jobs all", &c), PROTO_OK);
    ASSERT_EQ(c.states, PROTO_STATE_ALL);
    ASSERT_EQ(parse("flush-tube jobs ready", &c), PROTO_OK);
    ASSERT_EQ(c.states, PROTO_STATE_READY);
    ASSERT_EQ(parse("flush-tube jobs delayed", &c), PROTO_OK);
    ASSERT_EQ(c.states, PROTO_STATE_DELAYED);
}

TEST(flush_tube_malformed_arguments_are_bad_format)
{
    EXPECT("flush-tube jobs reserved", PROTO_BAD_FORMAT); /* never reserved jobs */
    EXPECT("flush-tube jobs", PROTO_BAD_FORMAT);
    EXPECT("flush-tube jobs all extra", PROTO_BAD_FORMAT);
    EXPECT("flush-tube jobs all ", PROTO_BAD_FORMAT);
    EXPECT("flush-tube  jobs all", PROTO_BAD_FORMAT);
    EXPECT("flush-tube jobs  all", PROTO_BAD_FORMAT);
    EXPECT("flush-tube -jobs all", PROTO_BAD_FORMAT);
    EXPECT("flush-tube jo*bs all", PROTO_BAD_FORMAT);
    EXPECT("flush-tube jobs READY", PROTO_BAD_FORMAT);
    EXPECT("flush-tube ", PROTO_BAD_FORMAT);
    EXPECT(repeat("flush-tube ", 'a', 201, " all"), PROTO_BAD_FORMAT);
    EXPECT(repeat("flush-tube ", 'a', 200, " all"), PROTO_OK);
    EXPECT("flush-tube", PROTO_UNKNOWN_COMMAND); /* the name includes its space */
}

TEST(list_jobs_parses_all_four_words)
{
    proto_cmd c;
    ASSERT_EQ(parse("list-jobs default reserved 18446744073709551615 1000", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_LIST_JOBS);
    ASSERT_EQ(c.tube_len, 7);
    ASSERT_EQ(c.states, PROTO_STATE_RESERVED);
    ASSERT_EQ(c.id, UINT64_MAX);
    ASSERT_EQ(c.count, 1000);
    ASSERT_EQ(parse("list-jobs t ready 0 1", &c), PROTO_OK);
    ASSERT_EQ(c.id, 0);
    ASSERT_EQ(c.count, 1);
}

TEST(list_jobs_malformed_arguments_are_bad_format)
{
    EXPECT("list-jobs t ready 0 0", PROTO_BAD_FORMAT);
    EXPECT("list-jobs t ready 0 1001", PROTO_BAD_FORMAT);
    EXPECT("list-jobs t all 0 10", PROTO_BAD_FORMAT);
    EXPECT("list-jobs t ready -1 10", PROTO_BAD_FORMAT);
    EXPECT("list-jobs t ready +1 10", PROTO_BAD_FORMAT);
    EXPECT("list-jobs t ready 18446744073709551616 10", PROTO_BAD_FORMAT);
    EXPECT("list-jobs t ready 0", PROTO_BAD_FORMAT);
    EXPECT("list-jobs t ready 0 10 10", PROTO_BAD_FORMAT);
    EXPECT("list-jobs t ready 0 1x", PROTO_BAD_FORMAT);
    EXPECT("list-jobs t ready 0 10\t", PROTO_BAD_FORMAT);
    /* The old commands starting "list-" are still themselves. */
    EXPECT("list-tubes", PROTO_OK);
    EXPECT("list-jobs", PROTO_UNKNOWN_COMMAND);
}

TEST(move_jobs_parses_both_tubes_state_and_max)
{
    proto_cmd c;
    ASSERT_EQ(parse("move-jobs dead work buried 4294967295", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_MOVE_JOBS);
    ASSERT_TRUE(c.tube_len == 4 && memcmp(c.tube, "dead", 4) == 0);
    ASSERT_TRUE(c.to_tube_len == 4 && memcmp(c.to_tube, "work", 4) == 0);
    ASSERT_EQ(c.states, PROTO_STATE_BURIED);
    ASSERT_EQ(c.count, UINT32_MAX);
    ASSERT_EQ(parse("move-jobs a b delayed 0", &c), PROTO_OK);
    ASSERT_EQ(c.count, 0);
}

TEST(move_jobs_malformed_arguments_are_bad_format)
{
    EXPECT("move-jobs a b reserved 1", PROTO_BAD_FORMAT);
    EXPECT("move-jobs a b all 1", PROTO_BAD_FORMAT);
    EXPECT("move-jobs a b ready 4294967296", PROTO_BAD_FORMAT);
    EXPECT("move-jobs a -b ready 1", PROTO_BAD_FORMAT);
    EXPECT("move-jobs a b ready", PROTO_BAD_FORMAT);
    EXPECT("move-jobs a b ready 1 2", PROTO_BAD_FORMAT);
}

TEST(reserve_batch_parses_max_and_timeout)
{
    proto_cmd c;
    ASSERT_EQ(parse("reserve-batch 1000 4294967295", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_RESERVE_BATCH);
    ASSERT_EQ(c.count, 1000);
    ASSERT_EQ(c.timeout_s, UINT32_MAX);
    ASSERT_EQ(parse("reserve-batch 1 0", &c), PROTO_OK);
    ASSERT_EQ(c.count, 1);
    ASSERT_EQ(c.timeout_s, 0);
}

TEST(reserve_batch_malformed_arguments_are_bad_format)
{
    EXPECT("reserve-batch 0 1", PROTO_BAD_FORMAT);
    EXPECT("reserve-batch 1001 1", PROTO_BAD_FORMAT);
    EXPECT("reserve-batch 1 -1", PROTO_BAD_FORMAT);
    EXPECT("reserve-batch 1", PROTO_BAD_FORMAT);
    EXPECT("reserve-batch 1 1 1", PROTO_BAD_FORMAT);
    EXPECT("reserve-batch", PROTO_BAD_FORMAT); /* "reserve" with trailing bytes, as before */
    /* reserve and reserve-with-timeout are unchanged. */
    EXPECT("reserve", PROTO_OK);
    EXPECT("reserve-with-timeout 5", PROTO_OK);
}

TEST(auth_takes_a_user_and_the_rest_of_the_line_as_password)
{
    proto_cmd c;
    ASSERT_EQ(parse("auth alice s3cret", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_AUTH);
    ASSERT_TRUE(c.user_len == 5 && memcmp(c.user, "alice", 5) == 0);
    ASSERT_TRUE(c.password_len == 6 && memcmp(c.password, "s3cret", 6) == 0);
    /* Spaces belong to the password, leading and trailing ones included. */
    ASSERT_EQ(parse("auth worker-1.example.com  two words ", &c), PROTO_OK);
    ASSERT_TRUE(c.user_len == 20 && memcmp(c.user, "worker-1.example.com", 20) == 0);
    ASSERT_TRUE(c.password_len == 11 && memcmp(c.password, " two words ", 11) == 0);
    ASSERT_TRUE(!proto_cmds[CMD_AUTH].stat_name);
}

TEST(auth_malformed_arguments_are_bad_format)
{
    EXPECT("auth alice", PROTO_BAD_FORMAT);
    EXPECT("auth alice ", PROTO_BAD_FORMAT);
    EXPECT("auth  alice pw", PROTO_BAD_FORMAT);
    EXPECT("auth al!ce pw", PROTO_BAD_FORMAT);
    EXPECT("auth ", PROTO_BAD_FORMAT);
    EXPECT("auth", PROTO_UNKNOWN_COMMAND);
    EXPECT("authx alice pw", PROTO_UNKNOWN_COMMAND);
    char line[PROTO_MAX_USER + 16];
    memset(line, 'u', sizeof line);
    memcpy(line, "auth ", 5);
    memcpy(line + 5 + PROTO_MAX_USER + 1, " pw", 4);
    EXPECT(line, PROTO_BAD_FORMAT); /* a 129-byte user */
    line[5 + PROTO_MAX_USER] = ' ';
    line[5 + PROTO_MAX_USER + 1] = 'p';
    line[5 + PROTO_MAX_USER + 2] = '\0';
    EXPECT(line, PROTO_OK); /* 128 bytes */
}

/* ---- tube-set ---- */

TEST(tube_set_names_each_setting_and_its_value)
{
    proto_cmd c;
    ASSERT_EQ(parse("tube-set q rate 4294967295", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_TUBE_SET);
    ASSERT_EQ(c.setting, PROTO_SET_RATE);
    ASSERT_EQ(c.count, UINT32_MAX);
    ASSERT_EQ(c.tube_len, 1);
    ASSERT_EQ(parse("tube-set q dead-letter dl", &c), PROTO_OK);
    ASSERT_EQ(c.setting, PROTO_SET_DEAD_LETTER);
    ASSERT_EQ(c.to_tube_len, 2);
    ASSERT_EQ(parse("tube-set q dead-letter -", &c), PROTO_OK);
    ASSERT_EQ(c.to_tube_len, 0);
    for (int i = 0; i < PROTO_SET_COUNT_; i++) {
        char line[80];
        snprintf(line, sizeof line, "tube-set q %s %s", proto_setting_names[i],
                 i == PROTO_SET_DEAD_LETTER ? "x" : "7");
        ASSERT_EQ(parse(line, &c), PROTO_OK);
        ASSERT_EQ(c.setting, (proto_setting)i);
    }
    const char *bad[] = {"tube-set q rate",
                         "tube-set q nope 1",
                         "tube-set q rate 1 1",
                         "tube-set q rate -1",
                         "tube-set q rate 1x",
                         "tube-set -q rate 1",
                         "tube-set q rate 4294967296",
                         "tube-set q dead-letter -q",
                         "tube-info q q",
                         "tube-info -q"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ASSERT_EQ(parse(bad[i], &c), PROTO_BAD_FORMAT);
    ASSERT_EQ(parse("tube-info q", &c), PROTO_OK);
    ASSERT_EQ(c.type, CMD_TUBE_INFO);
}

TEST_MAIN()
