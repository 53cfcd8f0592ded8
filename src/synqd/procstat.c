/*
 * procstat: the process figures (contract in procstat.h). /proc/self/stat is one line whose
 * second field, the command name in parentheses, may itself hold spaces and parentheses, so
 * the fields are counted from the last ')' (proc(5)).
 */
#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static double timeval_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* The whole of a small /proc file into buf (NUL-terminated); its length, or -1. */
static long read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long)n;
}

/* The boot time, in seconds since the epoch (/proc/stat "btime"), or 0. */
static uint64_t boot_time_s(void)
{
    char buf[8192];
    if (read_small("/proc/stat", buf, sizeof buf) < 0)
        return 0;
    const char *p = strstr(buf, "\nbtime ");
    unsigned long long bt = 0;
    if (!p || sscanf(p + 7, "%llu", &bt) != 1)
        return 0;
    return bt;
}

static bool read_self_stat(procstat *out)
{
    char buf[1024];
    if (read_small("/proc/self/stat", buf, sizeof buf) < 0)
        return false;
    const char *p = strrchr(buf, ')');
    if (!p)
        return false;
    /* After ')': state (field 3), then fields 4..21, starttime (22), vsize (23), rss (24). */
    unsigned long long start_ticks = 0, vsize = 0;
    long long rss_pages = 0;
    if (sscanf(p + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d"
               " %llu %llu %lld",
               &start_ticks, &vsize, &rss_pages) != 3)
        return false;
    long page = sysconf(_SC_PAGESIZE);
    long hz = sysconf(_SC_CLK_TCK);
    out->virtual_bytes = vsize;
    out->resident_bytes = rss_pages > 0 && page > 0 ? (uint64_t)rss_pages * (uint64_t)page : 0;
    if (hz > 0)
        out->start_time_s = (double)boot_time_s() + (double)start_ticks / (double)hz;
    return true;
}

static uint64_t count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    uint64_t n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* the directory's own descriptor is not the server's */
}

void procstat_read(procstat *out)
{
    memset(out, 0, sizeof *out);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        out->user_s = timeval_s(ru.ru_utime);
        out->system_s = timeval_s(ru.ru_stime);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        out->max_fds = (uint64_t)rl.rlim_cur;
    out->has_proc = read_self_stat(out);
    if (out->has_proc)
        out->open_fds = count_open_fds();
}
