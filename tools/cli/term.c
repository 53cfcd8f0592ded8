/*
 * synq top's terminal (see term.h). The screen is changed only between
 * term_open and term_close, and the only state outside struct term is the
 * two signal flags, so every way out of top (q, Ctrl-C, SIGTERM, a write
 * error) goes through the one term_close.
 */
#include "term.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag, winch_flag;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void on_winch(int sig)
{
    (void)sig;
    winch_flag = 1;
}

void term_signals(void)
{
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, NULL);
}

bool term_stop_requested(void)
{
    return stop_flag != 0;
}

bool term_resized(void)
{
    bool was = winch_flag != 0;
    winch_flag = 0;
    return was;
}

void term_size(term *t)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        t->rows = ws.ws_row;
        t->cols = ws.ws_col;
    } else {
        t->rows = 24;
        t->cols = 80;
    }
}

void term_open(term *t)
{
    term_size(t);
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
        struct termios raw = t->saved;
        /* Output processing stays on, so "\n" still returns the carriage. */
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
        raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        t->keys = tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
        if (!t->keys)
            fprintf(stderr, "synq: top: tcsetattr() failed: %s (keys are off)\n", strerror(errno));
    }
    fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
    fflush(stdout);
    t->screen = true;
}

void term_close(term *t)
{
    if (t->screen) {
        fputs("\033[?25h\033[?1049l", stdout);
        fflush(stdout);
        t->screen = false;
    }
    if (t->keys) {
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t->saved) != 0)
            fprintf(stderr, "synq: top: tcsetattr() failed restoring the terminal: %s\n",
                    strerror(errno));
        t->keys = false;
    }
}

int term_wait_key(const term *t, int timeout_ms)
{
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    int n = poll(&pfd, t->keys ? 1 : 0, timeout_ms < 0 ? 0 : timeout_ms);
    if (n <= 0)
        return 0; /* timed out, or EINTR from a signal the caller looks at */
    unsigned char key;
    ssize_t got = read(STDIN_FILENO, &key, 1);
    if (got == 1)
        return key;
    return got == 0 ? -1 : 0;
}
