/* Tests for src/base/siphash.c and the keyed name hash of src/base/hashmap.c: the reference
 * vectors of SipHash-2-4 (key 00 01 .. 0f, message 00 01 .. n-1; n = 15 is the paper's worked
 * example in its appendix A), and a key that differs between processes. */
#include <sys/wait.h>
#include <unistd.h>

#include "hashmap.h"
#include "siphash.h"
#include "test.h"

static const uint64_t reference[] = {
    0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL, 0x85676696d7fb7e2dULL,
    0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL, 0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL,
    0x93f5f5799a932462ULL, 0x9e0082df0ba9e4b0ULL, 0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
    0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL, 0xf723ca908e7af2eeULL, 0xa129ca6149be45e5ULL,
    0x3f2acc7f57c29bdbULL, 0x699ae9f52cbe4794ULL,
};

TEST(siphash24_reference_vectors)
{
    uint8_t key[SIPHASH_KEY_BYTES], msg[sizeof reference / sizeof reference[0]];
    for (unsigned i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)i;
    for (unsigned i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)i;
    for (unsigned n = 0; n < sizeof reference / sizeof reference[0]; n++)
        ASSERT_EQ(siphash24(key, msg, n), reference[n]);
}

TEST(siphash24_depends_on_every_key_byte)
{
    uint8_t key[SIPHASH_KEY_BYTES] = {0};
    uint64_t base = siphash24(key, "default", 7);
    for (unsigned i = 0; i < sizeof key; i++) {
        key[i] = 1;
        ASSERT_NE(siphash24(key, "default", 7), base);
        key[i] = 0;
    }
}

/* The hash of a name as a fresh child process computes it (its key drawn in that process). */
static uint64_t hash_in_child(void)
{
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        uint64_t h = hashmap_hash_bytes("default", 7);
        _exit(write(fds[1], &h, sizeof h) == (ssize_t)sizeof h ? 0 : 1);
    }
    close(fds[1]);
    uint64_t h = 0;
    ASSERT_EQ(read(fds[0], &h, sizeof h), (ssize_t)sizeof h);
    close(fds[0]);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return h;
}

TEST(name_hash_key_differs_between_processes)
{
    /* The key is drawn on first use, so each child draws its own (this process has not used
     * it yet). Two 64-bit hashes of one name agree by chance with probability 2^-64. */
    uint64_t a = hash_in_child(), b = hash_in_child();
    ASSERT_NE(a, b);
    /* Within a process the hash is a function. */
    ASSERT_EQ(hashmap_hash_bytes("default", 7), hashmap_hash_bytes("default", 7));
    ASSERT_NE(hashmap_hash_bytes("default", 7), hashmap_hash_bytes("defaulu", 7));
}

TEST_MAIN()
