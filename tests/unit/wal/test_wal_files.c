/*
 * Unit tests for what the log makes on disk besides records: a missing directory is created
 * with its missing parents, each owner-only and synced into its parent; the lock file and every
 * segment are owner-only whatever the umask allows; existing files keep their mode.
 */
#include "wal_helpers.h"

#include <stdio.h>
#include <unistd.h>

static unsigned mode_of(const char *path)
{
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    return (unsigned)(st.st_mode & 07777);
}

TEST(missing_directory_and_parents_are_created_owner_only_with_owner_only_files)
{
    char *top = tmp_dir();
    char dir[256], mid[256], path[4096];
    snprintf(mid, sizeof mid, "%s/new", top);
    snprintf(dir, sizeof dir, "%s/new/dir", top);
    /* The widest umask: the modes come from the log, not from the process. */
    mode_t was = umask(0);
    wal_fault f;
    wal_fault_init(&f);
    wal_opts o = opts_for(dir, (uint64_t)64 * 1024, WAL_FSYNC_ALWAYS);
    o.io = &f.io;
    wal *w = open_ok(&o, NULL);
    umask(was);
    ASSERT_EQ(mode_of(mid), 0700);
    ASSERT_EQ(mode_of(dir), 0700);
    snprintf(path, sizeof path, "%s/lock", dir);
    ASSERT_EQ(mode_of(path), 0600);
    seg_path(dir, 1, path, sizeof path);
    ASSERT_EQ(mode_of(path), 0600);
    /* The top one existed (-EEXIST is passed over), the two below it were made. */
    ASSERT_GE(f.calls[WAL_IO_MKDIR], 2);
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(dir);
    rmdir(mid);
    rmdir(top);
    free(top);
}

TEST(new_directories_are_synced_into_their_parents)
{
    char *top = tmp_dir();
    char dir[256];
    snprintf(dir, sizeof dir, "%s/d", top);
    wal_fault f;
    wal_fault_init(&f);
    wal_opts o = opts_for(top, (uint64_t)64 * 1024, WAL_FSYNC_NEVER);
    o.io = &f.io;
    wal *w = open_ok(&o, NULL);
    uint64_t fsyncs_existing = f.calls[WAL_IO_FSYNC];
    ASSERT_EQ(f.calls[WAL_IO_MKDIR], 0);
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(top);
    ASSERT_EQ(mkdir(top, 0700), 0);

    wal_fault_init(&f);
    o.dir = dir;
    w = open_ok(&o, NULL);
    /* One more fsync than in an existing directory: the parent's, for the new entry. */
    ASSERT_EQ(f.calls[WAL_IO_FSYNC], fsyncs_existing + 1);
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(dir);
    rmdir(top);
    free(top);
}

TEST(a_failing_mkdir_fails_the_open_with_its_error)
{
    char *top = tmp_dir();
    char dir[256];
    snprintf(dir, sizeof dir, "%s/d", top);
    wal_fault f;
    wal_fault_init(&f);
    wal_fault_arm(&f, WAL_IO_MKDIR, 1, EACCES, true, 0);
    wal_opts o = opts_for(dir, (uint64_t)64 * 1024, WAL_FSYNC_ALWAYS);
    o.io = &f.io;
    wal *w = NULL;
    rec_list l = {0};
    ASSERT_EQ(wal_open(&o, collect_cb, &l, NULL, &w), -EACCES);
    ASSERT_TRUE(w == NULL);
    struct stat st;
    ASSERT_EQ(stat(dir, &st), -1);
    rec_list_free(&l);
    rmdir(top);
    free(top);
}

TEST(an_existing_lock_file_keeps_its_mode)
{
    /* The operator's file: the log says in docs/operations.md what it should be, it does not
     * chmod it. */
    char *dir = tmp_dir();
    char path[4096];
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(fchmod(fd, 0644), 0);
    close(fd);
    wal_opts o = opts_for(dir, (uint64_t)64 * 1024, WAL_FSYNC_ALWAYS);
    wal *w = open_ok(&o, NULL);
    ASSERT_EQ(mode_of(path), 0644);
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(dir);
    free(dir);
}

TEST_MAIN()
