/*
 * The record format (format.h, docs/wal-format.md): pure functions from records to bytes and
 * back. Every multi-byte field goes through the little-endian helpers, so the bytes do not
 * depend on the host.
 */
#include "format.h"

#include <errno.h>
#include <string.h>

#include "crc32c.h"

void wal_encode_header(unsigned char *hdr, uint32_t index)
{
    memset(hdr, 0, WAL_HDR_BYTES);
    memcpy(hdr, WAL_MAGIC, sizeof WAL_MAGIC);
    wal_put_u32(hdr + 8, WAL_FORMAT_VERSION);
    wal_put_u32(hdr + 12, WAL_HDR_BYTES);
    wal_put_u64(hdr + 16, index);
    wal_put_u32(hdr + 24, crc32c(0, hdr, 24));
}

int wal_decode_header(const unsigned char *h, uint64_t size, uint32_t index, uint32_t *version)
{
    if (size < WAL_HDR_BYTES) {
        for (uint64_t i = 0; i < size; i++)
            if (h[i])
                return WAL_HDR_BAD;
        return WAL_HDR_BLANK;
    }
    bool zero = true;
    for (size_t i = 0; i < WAL_HDR_BYTES; i++)
        zero = zero && h[i] == 0;
    if (zero)
        return WAL_HDR_BLANK;
    if (memcmp(h, WAL_MAGIC, sizeof WAL_MAGIC) != 0 || crc32c(0, h, 24) != wal_get_u32(h + 24))
        return WAL_HDR_BAD;
    if (wal_get_u32(h + 8) > WAL_FORMAT_VERSION)
        return -EPROTONOSUPPORT;
    if (wal_get_u32(h + 8) == 0 || wal_get_u32(h + 12) != WAL_HDR_BYTES ||
        wal_get_u64(h + 16) != index)
        return WAL_HDR_BAD;
    *version = wal_get_u32(h + 8);
    return 0;
}

size_t wal_put_record_bytes(size_t tube_len, size_t key_len, size_t body_len)
{
    return WAL_REC_HDR_BYTES + WAL_PUT_FIXED_BYTES + tube_len + key_len + body_len;
}

static void finish_record(unsigned char *p, size_t n, uint8_t type)
{
    wal_put_u32(p + 4, (uint32_t)(n - WAL_REC_HDR_BYTES));
    p[8] = type;
    wal_put_u32(p, crc32c(0, p + 4, n - 4));
}

/* The fields format 2 added to PUT and STATE, at q. */
static void encode_counters(unsigned char *q, const wal_record *r)
{
    wal_put_u32(q, r->delay_s);
    wal_put_u32(q + 4, r->reserves);
    wal_put_u32(q + 8, r->timeouts);
    wal_put_u32(q + 12, r->releases);
    wal_put_u32(q + 16, r->buries);
    wal_put_u32(q + 20, r->kicks);
}

void wal_encode_put(unsigned char *p, const wal_record *r, size_t n)
{
    unsigned char *q = p + WAL_REC_HDR_BYTES;
    wal_put_u64(q, r->id);
    wal_put_u32(q + 8, r->pri);
    wal_put_u32(q + 12, r->ttr_s);
    q[16] = r->state;
    q[17] = (unsigned char)r->tube_len;
    q[18] = (unsigned char)r->key_len; /* format 4: zero (reserved) before */
    q[19] = 0;
    wal_put_u64(q + 20, (uint64_t)r->deadline_wall_ms);
    wal_put_u64(q + 28, (uint64_t)r->created_wall_ms);
    encode_counters(q + 36, r);
    memcpy(q + WAL_PUT_FIXED_BYTES, r->tube, r->tube_len);
    if (r->key_len)
        memcpy(q + WAL_PUT_FIXED_BYTES + r->tube_len, r->key, r->key_len);
    if (r->body_len)
        memcpy(q + WAL_PUT_FIXED_BYTES + r->tube_len + r->key_len, r->body, r->body_len);
    finish_record(p, n, WAL_REC_PUT);
}

void wal_encode_state(unsigned char *p, const wal_record *r)
{
    unsigned char *q = p + WAL_REC_HDR_BYTES;
    wal_put_u64(q, r->id);
    wal_put_u32(q + 8, r->pri);
    q[12] = r->state;
    q[13] = q[14] = q[15] = 0;
    wal_put_u64(q + 16, (uint64_t)r->deadline_wall_ms);
    encode_counters(q + 24, r);
    finish_record(p, WAL_STATE_BYTES, WAL_REC_STATE);
}

void wal_encode_delete(unsigned char *p, uint64_t id)
{
    wal_put_u64(p + WAL_REC_HDR_BYTES, id);
    finish_record(p, WAL_DELETE_BYTES, WAL_REC_DELETE);
}

size_t wal_tube_record_bytes(size_t tube_len, size_t dead_letter_len)
{
    return WAL_REC_HDR_BYTES + WAL_TUBE_FIXED_BYTES + tube_len + dead_letter_len;
}

void wal_encode_tube(unsigned char *p, const wal_record *r, size_t n)
{
    unsigned char *q = p + WAL_REC_HDR_BYTES;
    q[0] = (unsigned char)r->tube_len;
    q[1] = (unsigned char)r->dead_letter_len;
    q[2] = q[3] = 0;
    wal_put_u32(q + 4, r->max_reserves);
    wal_put_u32(q + 8, r->max_reserved);
    wal_put_u32(q + 12, r->rate);
    wal_put_u32(q + 16, r->retry_backoff_ms);
    wal_put_u32(q + 20, r->expire_s);
    memcpy(q + WAL_TUBE_FIXED_BYTES, r->tube, r->tube_len);
    if (r->dead_letter_len)
        memcpy(q + WAL_TUBE_FIXED_BYTES + r->tube_len, r->dead_letter, r->dead_letter_len);
    finish_record(p, n, WAL_REC_TUBE);
}

/* A TUBE record's payload q of len bytes; false when its fields are invalid. */
static bool decode_tube(const unsigned char *q, uint32_t len, wal_record *r)
{
    r->tube_len = q[0];
    r->dead_letter_len = q[1];
    if (q[2] || q[3] || r->tube_len == 0 ||
        WAL_TUBE_FIXED_BYTES + r->tube_len + r->dead_letter_len != len)
        return false;
    r->max_reserves = wal_get_u32(q + 4);
    r->max_reserved = wal_get_u32(q + 8);
    r->rate = wal_get_u32(q + 12);
    r->retry_backoff_ms = wal_get_u32(q + 16);
    r->expire_s = wal_get_u32(q + 20);
    r->tube = (const char *)q + WAL_TUBE_FIXED_BYTES;
    r->dead_letter = r->dead_letter_len ? r->tube + r->tube_len : NULL;
    return true;
}

static void decode_counters(const unsigned char *q, wal_record *r)
{
    r->has_counters = true;
    r->delay_s = wal_get_u32(q);
    r->reserves = wal_get_u32(q + 4);
    r->timeouts = wal_get_u32(q + 8);
    r->releases = wal_get_u32(q + 12);
    r->buries = wal_get_u32(q + 16);
    r->kicks = wal_get_u32(q + 20);
}

long wal_decode_record(const unsigned char *p, size_t avail, uint32_t version, wal_record *r)
{
    bool v1 = version < 2;
    uint32_t put_fixed = v1 ? WAL_V1_PUT_FIXED_BYTES : WAL_PUT_FIXED_BYTES;
    uint32_t state_len = v1 ? WAL_V1_STATE_PAYLOAD_BYTES : WAL_STATE_PAYLOAD_BYTES;
    size_t hdr = avail < WAL_REC_HDR_BYTES ? avail : WAL_REC_HDR_BYTES;
    bool zero = true;
    for (size_t i = 0; i < hdr; i++)
        zero = zero && p[i] == 0;
    if (zero)
        return 0;
    if (avail < WAL_REC_HDR_BYTES)
        return -1;
    uint32_t len = wal_get_u32(p + 4);
    uint8_t type = p[8];
    /* Field checks come before the checksum: they reject most garbage cheaply,
     * which keeps the search for valid records after a bad one fast. */
    if (len > avail - WAL_REC_HDR_BYTES)
        return -1;
    if (!(type == WAL_REC_PUT && len >= put_fixed + 1) &&
        !(type == WAL_REC_DELETE && len == WAL_DELETE_PAYLOAD_BYTES) &&
        !(type == WAL_REC_STATE && len == state_len) &&
        !(type == WAL_REC_TUBE && version >= WAL_TUBE_VERSION && len > WAL_TUBE_FIXED_BYTES))
        return -1;
    if (crc32c(0, p + 4, (size_t)len + 5) != wal_get_u32(p))
        return -1;
    const unsigned char *q = p + WAL_REC_HDR_BYTES;
    memset(r, 0, sizeof *r);
    r->type = type;
    if (type == WAL_REC_TUBE)
        return decode_tube(q, len, r) ? (long)(WAL_REC_HDR_BYTES + len) : -1;
    r->id = wal_get_u64(q);
    if (r->id == 0)
        return -1;
    if (type == WAL_REC_PUT) {
        r->pri = wal_get_u32(q + 8);
        r->ttr_s = wal_get_u32(q + 12);
        r->state = q[16];
        r->tube_len = q[17];
        r->deadline_wall_ms = (int64_t)wal_get_u64(q + 20);
        r->created_wall_ms = (int64_t)wal_get_u64(q + 28);
        /* Byte 18 was reserved (zero) before format 4, which keeps a key's length there. */
        r->key_len = version >= WAL_KEYED_VERSION ? q[18] : 0;
        if (r->tube_len == 0 || put_fixed + r->tube_len + r->key_len > len ||
            (version < WAL_KEYED_VERSION && q[18]) || q[19])
            return -1;
        if (!v1)
            decode_counters(q + 36, r);
        r->tube = (const char *)q + put_fixed;
        r->key = r->key_len ? r->tube + r->tube_len : NULL;
        r->body = r->tube + r->tube_len + r->key_len;
        r->body_len = len - put_fixed - r->tube_len - r->key_len;
    } else if (type == WAL_REC_STATE) {
        r->pri = wal_get_u32(q + 8);
        r->state = q[12];
        r->deadline_wall_ms = (int64_t)wal_get_u64(q + 16);
        if (q[13] || q[14] || q[15])
            return -1;
        if (!v1)
            decode_counters(q + 24, r);
    }
    if (r->state > WAL_STATE_BURIED)
        return -1;
    return (long)(WAL_REC_HDR_BYTES + len);
}

bool wal_find_record(const unsigned char *buf, size_t from, size_t size, uint32_t version)
{
    wal_record r;
    for (size_t o = from; o + WAL_REC_HDR_BYTES <= size; o++) {
        /* A record header is never all zero: jump over zero runs. */
        if (buf[o] == 0) {
            size_t q = o;
            while (q < size && buf[q] == 0)
                q++;
            if (q == size)
                return false;
            o = q >= o + WAL_REC_HDR_BYTES ? q - (WAL_REC_HDR_BYTES - 1) : o;
        }
        if (wal_decode_record(buf + o, size - o, version, &r) > 0)
            return true;
    }
    return false;
}

void wal_encode_frame(unsigned char *p, size_t len, uint64_t seq, uint64_t synced)
{
    wal_put_u32(p + 4, (uint32_t)len);
    wal_put_u64(p + 8, seq);
    wal_put_u64(p + 16, synced);
    wal_put_u32(p, crc32c(0, p + 4, WAL_FRAME_HDR_BYTES - 4));
}

long wal_check_frame(const unsigned char *p, size_t avail, uint32_t version, uint64_t *seq,
                     uint64_t *synced)
{
    size_t hdr = avail < WAL_FRAME_HDR_BYTES ? avail : WAL_FRAME_HDR_BYTES;
    bool zero = true;
    for (size_t i = 0; i < hdr; i++)
        zero = zero && p[i] == 0;
    if (zero)
        return 0;
    if (avail < WAL_FRAME_HDR_BYTES)
        return -1;
    uint32_t len = wal_get_u32(p + 4);
    /* The cheap checks first, as in wal_decode_record: they keep the search fast. */
    if (len < WAL_DELETE_BYTES || len > avail - WAL_FRAME_HDR_BYTES ||
        crc32c(0, p + 4, WAL_FRAME_HDR_BYTES - 4) != wal_get_u32(p))
        return -1;
    size_t end = WAL_FRAME_HDR_BYTES + (size_t)len;
    for (size_t o = WAL_FRAME_HDR_BYTES; o < end;) {
        wal_record r;
        long n = wal_decode_record(p + o, end - o, version, &r);
        if (n <= 0)
            return -1;
        o += (size_t)n;
    }
    *seq = wal_get_u64(p + 8);
    *synced = wal_get_u64(p + 16);
    return (long)end;
}

long wal_find_frame(const unsigned char *buf, size_t from, size_t size, uint32_t version,
                    uint64_t after_seq, uint64_t *seq, uint64_t *synced)
{
    for (size_t o = from; o + WAL_FRAME_HDR_BYTES <= size; o++) {
        if (buf[o] == 0) {
            /* A frame header starts with its checksum, whose bytes are rarely all zero; the
             * first 24 bytes of a header are never all zero. Jump over zero runs. */
            size_t q = o;
            while (q < size && buf[q] == 0)
                q++;
            if (q == size)
                return -1;
            o = q >= o + WAL_FRAME_HDR_BYTES ? q - (WAL_FRAME_HDR_BYTES - 1) : o;
        }
        if (wal_check_frame(buf + o, size - o, version, seq, synced) > 0 && *seq > after_seq)
            return (long)o;
    }
    return -1;
}

/* ---- records outside segments (wal.h) ---- */

size_t wal_record_size(const wal_record *r)
{
    switch (r->type) {
    case WAL_REC_PUT:
        if (r->id == 0 || r->id > WAL_MAX_ID || r->state > WAL_STATE_BURIED || r->tube_len == 0 ||
            r->tube_len > WAL_MAX_TUBE_NAME || (r->body_len && !r->body) ||
            r->key_len > WAL_MAX_KEY || (r->key_len && !r->key))
            return 0;
        return wal_put_record_bytes(r->tube_len, r->key_len, r->body_len);
    case WAL_REC_STATE:
        return r->id && r->id <= WAL_MAX_ID && r->state <= WAL_STATE_BURIED ? WAL_STATE_BYTES : 0;
    case WAL_REC_DELETE:
        return r->id && r->id <= WAL_MAX_ID ? WAL_DELETE_BYTES : 0;
    case WAL_REC_TUBE:
        if (r->tube_len == 0 || r->tube_len > WAL_MAX_TUBE_NAME ||
            r->dead_letter_len > WAL_MAX_TUBE_NAME)
            return 0;
        return wal_tube_record_bytes(r->tube_len, r->dead_letter_len);
    default:
        return 0;
    }
}

void wal_record_encode(unsigned char *p, const wal_record *r)
{
    size_t n = wal_record_size(r);
    if (r->type == WAL_REC_PUT)
        wal_encode_put(p, r, n);
    else if (r->type == WAL_REC_STATE)
        wal_encode_state(p, r);
    else if (r->type == WAL_REC_DELETE)
        wal_encode_delete(p, r->id);
    else
        wal_encode_tube(p, r, n);
}

long wal_record_decode(const unsigned char *p, size_t avail, wal_record *r)
{
    long n = wal_decode_record(p, avail, WAL_FORMAT_VERSION, r);
    return n > 0 ? n : -1;
}
