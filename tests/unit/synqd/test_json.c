/*
 * Tests for src/synqd/json.c, in memory: strings are written as the synq CLI writes them
 * (tests/integration/test_cli.py pins those), YAML documents become the CLI's objects and
 * arrays, and the reader takes one flat object and refuses everything else.
 */
#include <errno.h>

#include "json.h"
#include "test.h"

static char written[4096];

static const char *str_json(const char *s, size_t n)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(json_put_str(&b, s, n), 0);
    ASSERT_LT(sq_buf_len(&b), sizeof written);
    memcpy(written, sq_buf_peek(&b), sq_buf_len(&b));
    written[sq_buf_len(&b)] = '\0';
    sq_buf_free(&b);
    return written;
}

static const char *yaml_json(const char *doc)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(json_put_yaml(&b, doc, strlen(doc)), 0);
    memcpy(written, sq_buf_peek(&b), sq_buf_len(&b));
    written[sq_buf_len(&b)] = '\0';
    sq_buf_free(&b);
    return written;
}

TEST(strings_escape_like_the_cli)
{
    ASSERT_STR_EQ(str_json("plain", 5), "\"plain\"");
    ASSERT_STR_EQ(str_json("a\"b\\c\n\r\t", 8), "\"a\\\"b\\\\c\\n\\r\\t\"");
    ASSERT_STR_EQ(str_json("\x01\x7f", 2), "\"\\u0001\\u007f\"");
    ASSERT_STR_EQ(str_json("\xc3\xa9", 2), "\"\xc3\xa9\"");       /* valid UTF-8 passes */
    ASSERT_STR_EQ(str_json("\xff\xc3", 2), "\"\\u00ff\\u00c3\""); /* invalid: Latin-1 */
    ASSERT_STR_EQ(str_json("\xed\xa0\x80", 3), "\"\\u00ed\\u00a0\\u0080\""); /* a surrogate */
    ASSERT_STR_EQ(str_json("\0x", 2), "\"\\u0000x\"");
}

TEST(yaml_documents_become_objects_and_arrays)
{
    ASSERT_STR_EQ(yaml_json("---\nname: default\ncurrent-jobs-ready: 3\ndraining: false\n"
                            "rusage-utime: 0.25\nid: 0755\ndead-letter: \"-\"\n"),
                  "{\"name\": \"default\", \"current-jobs-ready\": 3, \"draining\": false, "
                  "\"rusage-utime\": 0.25, \"id\": \"0755\", \"dead-letter\": \"-\"}");
    ASSERT_STR_EQ(yaml_json("---\n- id: 1\n  pri: 0\n- id: 2\n  pri: 7\n"),
                  "[{\"id\": 1, \"pri\": 0}, {\"id\": 2, \"pri\": 7}]");
    ASSERT_STR_EQ(yaml_json("--- []\n"), "[]");
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(json_put_yaml(&b, "no document", 11), -EINVAL);
    ASSERT_EQ(json_put_yaml(&b, "---\n- id: 1\nstray\n", 18), -EINVAL);
    sq_buf_free(&b);
}

static int add_mark(void *data, sq_buf *out, uint64_t id)
{
    int *calls = data;
    (*calls)++;
    char text[32];
    snprintf(text, sizeof text, ", \"seen\": %llu", (unsigned long long)id);
    return json_put_raw(out, text);
}

TEST(item_callback_gets_each_id)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    int calls = 0;
    static const char doc[] = "---\n- id: 4\n  pri: 0\n- id: 9\n  pri: 1\n";
    ASSERT_EQ(json_put_yaml_items(&b, doc, strlen(doc), add_mark, &calls), 0);
    ASSERT_EQ(calls, 2);
    ASSERT_EQ(sq_buf_append(&b, "", 1), 0);
    ASSERT_STR_EQ(sq_buf_peek(&b),
                  "[{\"id\": 4, \"pri\": 0, \"seen\": 4}, {\"id\": 9, \"pri\": 1, \"seen\": 9}]");
    sq_buf_free(&b);
}

TEST(reader_takes_a_flat_object)
{
    json_obj o;
    static const char text[] =
        " { \"tube\" : \"a\\u00e9\\ud83d\\ude00\\n\", \"pri\": 18446744073709551615,"
        "\"ok\":true, \"no\": false, \"none\": null, \"empty\": \"\" } ";
    ASSERT_EQ(json_parse_object(text, strlen(text), &o), 0);
    ASSERT_EQ(o.n, 6);
    const json_field *f = json_get(&o, "tube");
    ASSERT_TRUE(f != NULL);
    ASSERT_EQ(f->type, JSON_STRING);
    ASSERT_EQ(f->len, 8);
    ASSERT_MEM_EQ(f->str, "a\xc3\xa9\xf0\x9f\x98\x80\n", 8);
    ASSERT_EQ(json_get(&o, "pri")->num, UINT64_MAX);
    ASSERT_TRUE(json_get(&o, "ok")->b);
    ASSERT_EQ(json_get(&o, "no")->type, JSON_BOOL);
    ASSERT_EQ(json_get(&o, "none")->type, JSON_NULL);
    ASSERT_EQ(json_get(&o, "empty")->len, 0);
    ASSERT_TRUE(json_get(&o, "missing") == NULL);
    json_obj_free(&o);
    ASSERT_EQ(json_parse_object("{}", 2, &o), 0);
    ASSERT_EQ(o.n, 0);
    json_obj_free(&o);
}

TEST(reader_refuses_everything_else)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{",
        "{\"a\":1,}",
        "{\"a\":1} x",
        "{\"a\":{}}",
        "{\"a\":[1]}",
        "{\"a\":-1}",
        "{\"a\":1.5}",
        "{\"a\":1e3}",
        "{\"a\":01}",
        "{\"a\":18446744073709551616}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"\xff\"}",
        "{'a':1}",
        "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1}",
        "{a:1}",
        "{\"a\" 1}",
        "{\"a\":tru}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_obj o;
        int r = json_parse_object(bad[i], strlen(bad[i]), &o);
        if (r != -EINVAL)
            TEST_FAIL_("accepted (%d): %s", r, bad[i]);
        ASSERT_EQ(o.n, 0);
    }
    char many[512] = "{";
    for (int i = 0; i <= JSON_MAX_FIELDS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"k%d\":1", i ? "," : "", i);
    snprintf(many + strlen(many), sizeof many - strlen(many), "}");
    json_obj o;
    ASSERT_EQ(json_parse_object(many, strlen(many), &o), -EINVAL);
}

TEST_MAIN()
