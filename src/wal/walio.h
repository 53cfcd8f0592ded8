/*
 * The write-ahead log's I/O seam. Every system call the WAL and its recovery
 * make goes through a `wal_io` table, so tests (and a future io_uring
 * backend) can replace them. wal_io_default() is the real thing.
 *
 * Every function returns 0 (or a non-negative count / descriptor) on success
 * and a negative errno on failure: never -1 with errno, so an injected fault
 * needs no thread-local state. Each receives the table's `ctx` first.
 *
 * wal_fault is a ready-made injector on top of the real calls: it counts the
 * calls per operation and can fail the Nth call of one operation with a given
 * errno (once, or that call and every later one), or tear the Nth pwrite: write
 * only its first `tear_bytes` bytes, then report -EIO, which is what a crash in
 * the middle of a write leaves on disk.
 */
#ifndef SYNQ_QUEUE_WALIO_H
#define SYNQ_QUEUE_WALIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct wal_io {
    void *ctx;
    int (*open)(void *ctx, const char *path, int flags, mode_t mode); /* fd or -errno */
    /* Writes all `len` bytes at `off` (retrying short writes) or fails: 0 or -errno. */
    int (*pwrite)(void *ctx, int fd, const void *buf, size_t len, off_t off);
    /* Reads up to `len` bytes at `off`, retrying short reads: bytes read (< len only at EOF). */
    ssize_t (*pread)(void *ctx, int fd, void *buf, size_t len, off_t off);
    int (*fdatasync)(void *ctx, int fd);
    int (*fsync)(void *ctx, int fd);
    /* Allocates [off, off+len) so later writes there cannot fail for lack of space. */
    int (*fallocate)(void *ctx, int fd, off_t off, off_t len);
    int (*ftruncate)(void *ctx, int fd, off_t len);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*close)(void *ctx, int fd);
    int (*flock)(void *ctx, int fd, int op);
    int (*mkdir)(void *ctx, const char *path, mode_t mode);
    /* Size of the file in bytes, or -errno. */
    off_t (*fsize)(void *ctx, int fd);
} wal_io;

/* The real system calls. The table is static and immutable. */
const wal_io *wal_io_default(void);

typedef enum {
    WAL_IO_OPEN,
    WAL_IO_PWRITE,
    WAL_IO_PREAD,
    WAL_IO_FDATASYNC,
    WAL_IO_FSYNC,
    WAL_IO_FALLOCATE,
    WAL_IO_FTRUNCATE,
    WAL_IO_RENAME,
    WAL_IO_UNLINK,
    WAL_IO_CLOSE,
    WAL_IO_FLOCK,
    WAL_IO_FSIZE,
    WAL_IO_MKDIR,
    WAL_IO_NOPS
} wal_io_op;

typedef struct wal_fault {
    wal_io io;                   /* pass &f->io as wal_opts.io; ctx points back at f */
    uint64_t calls[WAL_IO_NOPS]; /* calls made so far, per operation (failed ones too) */
    wal_io_op fail_op;           /* which operation to fail */
    uint64_t fail_nth;           /* 1-based call number to fail; 0 = never */
    int fail_errno;              /* positive errno, e.g. EIO or ENOSPC */
    bool sticky;                 /* also fail every later call of fail_op */
    size_t tear_bytes;           /* for WAL_IO_PWRITE: bytes written before failing */
    uint64_t failures;           /* faults injected so far */
} wal_fault;

/* Initializes `f` as a pass-through injector with all counters at zero. */
void wal_fault_init(wal_fault *f);

/*
 * Arms the injector: the `nth` call of `op` counted from now (1 = the next
 * one) fails with -err; with `sticky`, every call after it too. For
 * WAL_IO_PWRITE, `tear_bytes` bytes of that write reach the file first.
 */
void wal_fault_arm(wal_fault *f, wal_io_op op, uint64_t nth, int err, bool sticky,
                   size_t tear_bytes);

/* Disarms: every later call goes through. The counters keep counting. */
void wal_fault_disarm(wal_fault *f);

#endif
