/*
 * synq top's terminal: the signals that stop it or resize it, raw keyboard
 * input and the full-screen mode, with plain termios and ANSI (VT100)
 * sequences rather than curses. top needs five sequences every terminal
 * emulator of the last thirty years knows (cursor home, clear to end of
 * line, clear below, alternate screen, cursor hide/show), and doing without
 * ncurses keeps synq a dependency-free binary that also builds where no
 * terminfo database is installed.
 *
 * Not thread-safe; one terminal per process.
 */
#ifndef SYNQ_CLI_TERM_H
#define SYNQ_CLI_TERM_H

#include <stdbool.h>
#include <termios.h>

typedef struct term {
    bool screen;          /* the alternate screen is up (term_open succeeded) */
    bool keys;            /* stdin is a terminal in raw mode */
    struct termios saved; /* stdin's settings before, restored by term_close */
    unsigned rows, cols;  /* the window size, from TIOCGWINSZ */
} term;

/* Installs handlers for SIGINT, SIGTERM and SIGHUP (term_stop_requested()
 * turns true) and SIGWINCH (term_resized()), without SA_RESTART so that a
 * wait is cut short. Call once, before waiting. */
void term_signals(void);
bool term_stop_requested(void);
/* True once after each SIGWINCH. */
bool term_resized(void);

/* Takes over the terminal on stdout: alternate screen, hidden cursor, and
 * when stdin is a terminal too, raw keys (no echo, no line editing, no
 * signal characters: Ctrl-C arrives as the byte 3). Reads the size. */
void term_open(term *t);
/* Gives the terminal back exactly as it was. Safe to call more than once. */
void term_close(term *t);
/* Refreshes t->rows and t->cols (24x80 when the size is unknown). */
void term_size(term *t);

/* Waits up to timeout_ms for a key on stdin (only when t->keys; otherwise
 * just waits). Returns the key's byte, 0 when the time ran out or a signal
 * came, -1 when stdin is closed. */
int term_wait_key(const term *t, int timeout_ms);

#endif
