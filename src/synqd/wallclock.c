/*
 * wallclock: CLOCK_REALTIME plus the test offset (see wallclock.h). The offset file is read
 * whole on every reading: the log reads the wall clock once per record, which only tests
 * pay for, and a file a test rewrites takes effect at the next record without a signal.
 */
#include "wallclock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Enough for any int64_t in decimal with a sign and a newline. */
#define OFFSET_TEXT_BYTES 32

void wallclock_init_from_env(wallclock *wc)
{
    wc->offset_file = getenv(WALLCLOCK_OFFSET_ENV);
    wc->complained = false;
    if (wc->offset_file && !*wc->offset_file)
        wc->offset_file = NULL;
    if (wc->offset_file)
        fprintf(stderr, "synqd: %s=%s: the wall clock is shifted by that file (a test hook)\n",
                WALLCLOCK_OFFSET_ENV, wc->offset_file);
}

static void complain_once(wallclock *wc, const char *what)
{
    if (wc->complained)
        return;
    wc->complained = true;
    fprintf(stderr, "synqd: %s %s: %s; the wall clock is not shifted\n", WALLCLOCK_OFFSET_ENV,
            wc->offset_file, what);
}

/* The offset in the file, or 0 when it has none. */
static int64_t read_offset_ms(wallclock *wc)
{
    char text[OFFSET_TEXT_BYTES];
    int fd = open(wc->offset_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        complain_once(wc, strerror(errno));
        return 0;
    }
    ssize_t n = read(fd, text, sizeof text - 1);
    int read_errno = errno;
    close(fd);
    if (n < 0) {
        complain_once(wc, strerror(read_errno));
        return 0;
    }
    text[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    while (*end == '\n' || *end == ' ')
        end++;
    if (end == text || *end != '\0' || errno == ERANGE) {
        complain_once(wc, "not a number of milliseconds");
        return 0;
    }
    return (int64_t)v;
}

int64_t wallclock_now_ms(void *data)
{
    wallclock *wc = data;
    struct timespec ts;
    /* CLOCK_REALTIME cannot fail with a valid clock id and pointer. */
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return wc && wc->offset_file ? now + read_offset_ms(wc) : now;
}
