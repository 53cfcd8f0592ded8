"""The write-ahead log's segment files as the durability tests read and damage them.

Just enough of format 3 (docs/wal-format.md) to find frames and records and to re-checksum a
record a test has crafted: the byte layout is the C code's (src/wal/format.h), repeated here
because these tests must not trust the code they check.
"""

import struct

HEADER_BYTES = 32  # segment header
FRAME_HEADER_BYTES = 24  # header CRC, length, seq, synced
RECORD_HEADER_BYTES = 9  # CRC-32C, payload length, type
FIRST_SEGMENT = "wal.0000000000000001"


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), as the log checksums its records."""
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def frames(path):
    """[(offset, total length)] of the frames in a segment file, up to its zero-filled end."""
    with open(path, "rb") as f:
        data = f.read()
    out = []
    off = HEADER_BYTES
    while off + FRAME_HEADER_BYTES <= len(data):
        head = data[off:off + FRAME_HEADER_BYTES]
        if head == bytes(FRAME_HEADER_BYTES):
            break
        (length,) = struct.unpack_from("<I", head, 4)
        out.append((off, FRAME_HEADER_BYTES + length))
        off += FRAME_HEADER_BYTES + length
    return out
