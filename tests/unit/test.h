/*
 * A small unit-test harness. Each TEST runs in its own forked process with
 * an alarm, so a crash or a hang fails that test alone and is reported by
 * name. Assertions print both values. TEST registers the case and TEST_MAIN() writes main():
 *
 *     TEST(timer_fires_in_order) { ... ASSERT_EQ(a, b); ... }
 *     TEST_MAIN()
 *
 * The closing line, "<file>: N passed, M failed", is what CI reads; the exit
 * status is non-zero when anything failed.
 */
#ifndef SQ_TEST_H
#define SQ_TEST_H

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TEST_TIMEOUT_S
#define TEST_TIMEOUT_S 60
#endif

typedef struct {
    const char *name;
    void (*fn)(void);
} sq_test_case;

/* Tests register themselves before main() runs, in the order they appear. */
#define TEST_MAX_CASES 512
static sq_test_case sq_test_cases_[TEST_MAX_CASES];
static size_t sq_test_count_;

#define TEST(name)                                                                                 \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void sq_test_register_##name(void)                         \
    {                                                                                              \
        if (sq_test_count_ < TEST_MAX_CASES)                                                       \
            sq_test_cases_[sq_test_count_++] = (sq_test_case){#name, name};                        \
    }                                                                                              \
    static void name(void)

#define TEST_FAIL_(...)                                                                            \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        exit(1);                                                                                   \
    } while (0)

#define ASSERT_TRUE(x)                                                                             \
    do {                                                                                           \
        if (!(x))                                                                                  \
            TEST_FAIL_("assertion failed: %s", #x);                                                \
    } while (0)

#define ASSERT_CMP_(a, op, b)                                                                      \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (!(a_ op b_))                                                                           \
            TEST_FAIL_("%s %s %s: %lld vs %lld", #a, #op, #b, a_, b_);                             \
    } while (0)

#define ASSERT_EQ(a, b) ASSERT_CMP_(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_CMP_(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_CMP_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_CMP_(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_CMP_(a, >, b)
#define ASSERT_GE(a, b) ASSERT_CMP_(a, >=, b)

#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (strcmp(a_, b_) != 0)                                                                   \
            TEST_FAIL_("%s == %s: \"%s\" vs \"%s\"", #a, #b, a_, b_);                              \
    } while (0)

#define ASSERT_MEM_EQ(a, b, n)                                                                     \
    do {                                                                                           \
        size_t n_ = (size_t)(n);                                                                   \
        if (memcmp((a), (b), n_) != 0)                                                             \
            TEST_FAIL_("%s == %s (%zu bytes): contents differ", #a, #b, n_);                       \
    } while (0)

static inline int sq_test_run_all(const char *file, const sq_test_case *cases, size_t n, int argc,
                                  char **argv)
{
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(TEST_TIMEOUT_S);
            cases[i].fn();
            fflush(NULL);
            _exit(0);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0) {
            perror("fork/waitpid");
            return 2;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            passed++;
            printf("ok   %s\n", cases[i].name);
        } else {
            failed++;
            if (WIFSIGNALED(status))
                printf("FAIL %s (signal %d%s)\n", cases[i].name, WTERMSIG(status),
                       WTERMSIG(status) == SIGALRM ? ", timed out" : "");
            else
                printf("FAIL %s\n", cases[i].name);
        }
    }
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char word[128];
    snprintf(word, sizeof word, "%s", base);
    char *dot = strchr(word, '.');
    if (dot)
        *dot = '\0';
    printf("%s: %zu passed, %zu failed\n", word, passed, failed);
    return failed ? 1 : (passed ? 0 : 1);
}

#define TEST_MAIN()                                                                                \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        return sq_test_run_all(__FILE__, sq_test_cases_, sq_test_count_, argc, argv);              \
    }

#endif
