/*
 * reply: every reply line synqd sends, byte for byte as beanstalkd 1.12 sends it.
 *
 * Whole replies end in "\r\n" (PROTO_REPLY_*); replies that carry numbers or a name start with a
 * word (PROTO_WORD_*) and are assembled by the server as "<word> <n>[ <n>]\r\n", with a body and
 * its own "\r\n" after RESERVED, FOUND and OK. Nothing here allocates or does I/O; the strings
 * are literals so that `sizeof` gives their length at compile time.
 */
#ifndef SYNQ_PROTO_REPLY_H
#define SYNQ_PROTO_REPLY_H

/* Words followed by numbers (or a tube name for USING). */
#define PROTO_WORD_INSERTED "INSERTED" /* INSERTED <id> */
#define PROTO_WORD_EXISTS "EXISTS"     /* EXISTS <id>: put-unique's key is held (an extension) */
#define PROTO_WORD_BURIED "BURIED"     /* BURIED <id> after put; bare BURIED after bury */
#define PROTO_WORD_RESERVED "RESERVED" /* RESERVED <id> <bytes> + body */
#define PROTO_WORD_FOUND "FOUND"       /* FOUND <id> <bytes> + body */
#define PROTO_WORD_OK "OK"             /* OK <bytes> + YAML document */
#define PROTO_WORD_USING "USING"       /* USING <tube> */
#define PROTO_WORD_WATCHING "WATCHING" /* WATCHING <count> */
#define PROTO_WORD_KICKED "KICKED"     /* KICKED <count> after kick; bare KICKED after kick-job */
/* synqd's extensions (docs/protocol.md, Extensions). */
#define PROTO_WORD_FLUSHED "FLUSHED"               /* FLUSHED <count> */
#define PROTO_WORD_MOVED "MOVED"                   /* MOVED <count> */
#define PROTO_WORD_RESERVED_BATCH "RESERVED_BATCH" /* RESERVED_BATCH <count> + RESERVED blocks */

/* Whole replies. */
#define PROTO_REPLY_BURIED PROTO_WORD_BURIED "\r\n"
#define PROTO_REPLY_KICKED PROTO_WORD_KICKED "\r\n"
#define PROTO_REPLY_DELETED "DELETED\r\n"
#define PROTO_REPLY_RELEASED "RELEASED\r\n"
#define PROTO_REPLY_TOUCHED "TOUCHED\r\n"
#define PROTO_REPLY_PAUSED "PAUSED\r\n"
#define PROTO_REPLY_SET "SET\r\n" /* tube-set (an extension) */
/* Authentication (an extension, docs/security.md): auth's answers, and the answer to a command
 * sent before auth where auth is required, or without the right it needs. */
#define PROTO_REPLY_OK_AUTH "OK_AUTH\r\n"
#define PROTO_REPLY_BAD_AUTH "BAD_AUTH\r\n"
#define PROTO_REPLY_NOT_AUTHORIZED "NOT_AUTHORIZED\r\n"
#define PROTO_REPLY_NOT_FOUND "NOT_FOUND\r\n"
/* cluster-add / cluster-remove (synqd's extensions, docs/cluster.md) */
#define PROTO_REPLY_CHANGED "CHANGED\r\n"
#define PROTO_REPLY_NOT_CHANGED "NOT_CHANGED\r\n"
#define PROTO_REPLY_NOT_IGNORED "NOT_IGNORED\r\n"
#define PROTO_REPLY_TIMED_OUT "TIMED_OUT\r\n"
#define PROTO_REPLY_DEADLINE_SOON "DEADLINE_SOON\r\n"
#define PROTO_REPLY_DRAINING "DRAINING\r\n"
#define PROTO_REPLY_JOB_TOO_BIG "JOB_TOO_BIG\r\n"
#define PROTO_REPLY_EXPECTED_CRLF "EXPECTED_CRLF\r\n"
#define PROTO_REPLY_BAD_FORMAT "BAD_FORMAT\r\n"
#define PROTO_REPLY_UNKNOWN_COMMAND "UNKNOWN_COMMAND\r\n"
#define PROTO_REPLY_OUT_OF_MEMORY "OUT_OF_MEMORY\r\n"
#define PROTO_REPLY_INTERNAL_ERROR "INTERNAL_ERROR\r\n"

#endif
