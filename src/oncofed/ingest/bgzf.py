"""Decompressing BGZF (bgzip) and gzip files into a file, fast and strictly.

A BGZF file is a chain of small gzip members whose sizes are in their headers, so groups of
members are inflated on every core at once (ISA-L's inflate, about twice zlib's speed,
releases the GIL) and written out in order; that is most of the time of reading a large VCF.
The text goes to a file, not memory, so that DuckDB can split it on every core. A file that is
cut short or corrupt raises ``IngestError`` instead of yielding a partial text: a truncated
VCF must not ingest as a shorter one.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from isal import isal_zlib

from oncofed.errors import IngestError

MAGIC = b"\x1f\x8b"
# The empty block every BGZF file ends with (SAM/BAM specification, section 4.1.2).
EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
GROUP = 64  # blocks per task: about 4 MB of text, large enough to keep the pool's overhead small
CHUNK = 1 << 20  # compressed bytes fed at a time to a plain gzip stream


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == MAGIC


def inflate(path: Path, write: Callable[[bytes], object]) -> None:
    """The whole decompressed content of a BGZF or gzip file, given to ``write`` in order."""
    data = path.read_bytes()
    file = str(path)
    blocks = _blocks(data, file)
    if blocks is None:
        _gunzip(data, file, write)
        return
    if not data.endswith(EOF_BLOCK):
        raise IngestError("the file is truncated: it lacks the BGZF end-of-file block", file=file,
                          expected="a complete bgzip file")
    view = memoryview(data)

    def block(start: int, end: int, size: int) -> bytes:
        try:
            text = isal_zlib.decompress(view[start:end], -15)
        except isal_zlib.error as e:
            raise IngestError(f"the file is corrupt: {e}", file=file, record=f"BGZF block at byte {start}") from None
        if len(text) != size:
            raise IngestError("the file is corrupt: a BGZF block has the wrong size", file=file,
                              record=f"BGZF block at byte {start}", expected=f"{size} bytes", got=len(text))
        return text

    def group(first: int) -> bytes:
        return b"".join(block(*b) for b in blocks[first:first + GROUP])

    workers = min(len(os.sched_getaffinity(0)), 8)
    with ThreadPoolExecutor(workers) as pool:
        for text in pool.map(group, range(0, len(blocks), GROUP)):
            write(text)


def _blocks(data: bytes, file: str) -> list[tuple[int, int, int]] | None:
    """(deflate start, deflate end, inflated size) of every BGZF block; None for plain gzip."""
    blocks, i, n = [], 0, len(data)
    while i < n:
        if n - i < 18 or data[i:i + 2] != MAGIC or not data[i + 3] & 4:
            if i == 0:
                return None  # not BGZF (no extra field): plain gzip
            raise IngestError("the file is truncated or corrupt", file=file, record=f"BGZF block at byte {i}",
                              expected="a BGZF block header")
        xlen = struct.unpack_from("<H", data, i + 10)[0]
        j, extra_end, bsize = i + 12, i + 12 + xlen, None
        while j + 4 <= extra_end:
            slen = struct.unpack_from("<H", data, j + 2)[0]
            if data[j:j + 2] == b"BC" and slen == 2:
                bsize = struct.unpack_from("<H", data, j + 4)[0]
            j += 4 + slen
        if bsize is None:
            if i == 0:
                return None
            raise IngestError("the file mixes BGZF and plain gzip members", file=file, record=f"byte {i}")
        end = i + bsize + 1
        if end > n:
            raise IngestError("the file is truncated: its last BGZF block is incomplete", file=file,
                              record=f"BGZF block at byte {i}", expected=f"{end - i} bytes", got=n - i)
        blocks.append((extra_end, end - 8, struct.unpack_from("<I", data, end - 4)[0]))
        i = end
    return blocks


def _gunzip(data: bytes, file: str, write: Callable[[bytes], object]) -> None:
    """Plain gzip, possibly several members one after another, streamed."""
    view, at = memoryview(data), 0
    while at < len(data):
        d = isal_zlib.decompressobj(wbits=31)
        while not d.eof and at < len(data):
            chunk = view[at:at + CHUNK]
            try:
                write(d.decompress(chunk))
            except isal_zlib.error as e:
                raise IngestError(f"the file is corrupt: {e}", file=file) from None
            at += len(chunk) - len(d.unused_data)
        if not d.eof:
            raise IngestError("the file is truncated: the gzip stream ends early", file=file,
                              expected="a complete gzip file")
