/*
 * synq passwd: a password hash for synqd's users file (docs/security.md), in the form
 * synqd's pwcheck.c reads: pbkdf2-sha256$ITERATIONS$SALT$KEY, PBKDF2-HMAC-SHA256 over a
 * 16-byte random salt, SALT and KEY (32 bytes) in standard base64.
 *
 * The password comes from standard input, never from the command line (where ps and the
 * shell's history would show it): on a terminal it is asked for twice with echo off, otherwise
 * the first line is read (its line end is not part of it).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

#ifdef SQ_HAVE_TLS
#include <openssl/crypto.h>
#include <openssl/evp.h>
#endif

/* synqd's bounds (src/synqd/users.h): a hash outside them does not load. */
#define PW_DEFAULT_ITERATIONS 100000u
#define PW_MIN_ITERATIONS 1000u
#define PW_MAX_ITERATIONS 10000000u
#define PW_SALT_BYTES 16
#define PW_KEY_BYTES 32
/* `auth <user> <password>` must fit synqd's 222-byte command line with a user name. */
#define PW_MAX_BYTES 200

/* One line of stdin into buf (without its line end), echo off when it is a terminal. */
static int read_secret(const char *prompt, char *buf, size_t len)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios was, quiet;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        if (tcgetattr(STDIN_FILENO, &was) == 0) {
            quiet = was;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        } else {
            tty = false;
        }
    }
    bool got = fgets(buf, (int)len, stdin) != NULL;
    if (tty) {
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &was);
        fprintf(stderr, "\n");
    }
    if (!got)
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

#ifdef SQ_HAVE_TLS
static int print_hash(const char *pw, unsigned long iterations)
{
    unsigned char salt[PW_SALT_BYTES], key[PW_KEY_BYTES];
    if (getrandom(salt, sizeof salt, 0) != (ssize_t)sizeof salt) {
        fprintf(stderr, "synq: passwd: getrandom(): %s\n", strerror(errno));
        return CLI_FAIL;
    }
    if (PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sizeof salt, (int)iterations, EVP_sha256(),
                          sizeof key, key) != 1) {
        fprintf(stderr, "synq: passwd: PKCS5_PBKDF2_HMAC() failed\n");
        return CLI_FAIL;
    }
    unsigned char salt64[4 * ((PW_SALT_BYTES + 2) / 3) + 1],
        key64[4 * ((PW_KEY_BYTES + 2) / 3) + 1];
    EVP_EncodeBlock(salt64, salt, sizeof salt);
    EVP_EncodeBlock(key64, key, sizeof key);
    OPENSSL_cleanse(key, sizeof key);
    printf("pbkdf2-sha256$%lu$%s$%s\n", iterations, (const char *)salt64, (const char *)key64);
    return CLI_OK;
}
#else
static int print_hash(const char *pw, unsigned long iterations)
{
    (void)pw;
    (void)iterations;
    fprintf(stderr, "synq: passwd: this synq was built without OpenSSL (-DSQ_TLS=OFF)\n");
    return CLI_FAIL;
}
#endif

/* --iterations N (a cli_opt_fn). */
static int iterations_opt(cli *c, const char *cmd, int opt, void *ctx)
{
    (void)c;
    uint64_t *iterations = ctx;
    if (opt != 'i')
        return cli_usage_error(cmd, "unknown option");
    int rc = cli_parse_u64(cmd, "iterations", optarg, PW_MAX_ITERATIONS, iterations);
    if (rc == CLI_OK && *iterations < PW_MIN_ITERATIONS)
        return cli_usage_error(cmd, "--iterations must be %u to %u", PW_MIN_ITERATIONS,
                               PW_MAX_ITERATIONS);
    return rc;
}

int cmd_passwd(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"iterations", required_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    uint64_t iterations = PW_DEFAULT_ITERATIONS;
    int rc =
        cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS, longopts, iterations_opt, &iterations);
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    char pw[PW_MAX_BYTES + 3], again[PW_MAX_BYTES + 3];
    rc = CLI_FAIL;
    if (read_secret("Password: ", pw, sizeof pw) != 0) {
        fprintf(stderr, "synq: passwd: no password on standard input\n");
    } else if (strlen(pw) == 0 || strlen(pw) > PW_MAX_BYTES) {
        fprintf(stderr, "synq: passwd: a password is 1 to %d bytes\n", PW_MAX_BYTES);
        rc = CLI_USAGE;
    } else if (isatty(STDIN_FILENO) &&
               (read_secret("Again: ", again, sizeof again) != 0 || strcmp(pw, again) != 0)) {
        fprintf(stderr, "synq: passwd: the two passwords differ\n");
        rc = CLI_USAGE;
    } else {
        rc = print_hash(pw, (unsigned long)iterations);
    }
    explicit_bzero(pw, sizeof pw);
    explicit_bzero(again, sizeof again);
    return rc;
}
