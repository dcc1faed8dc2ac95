# SPDX-License-Identifier: Apache-2.0
"""The checkpoint file: a header, the records (one per tensor), a JSON manifest and a
trailer (docs/CHECKPOINT.md has the byte layout).

``Writer`` appends records to a temporary file in the target's directory, one at a
time (nothing is held in memory but the record being written), and ``commit`` writes
the manifest and the trailer, flushes the file to the disk and renames it over the
target: a crash at any point leaves the target as it was. ``Reader`` refuses any file
whose bytes do not check out: every byte of a checkpoint is either a checked constant
or covered by a SHA-256 digest (the records' digests are in the manifest, the
manifest's is in the trailer), so a damaged or truncated file is an error, never
values.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import uuid

MAGIC = b"\x89AZCKPT\n"
END_MAGIC = b"AZCKEND\n"
FORMAT = "actzip.checkpoint"
VERSION = 1
HEADER_BYTES = 64
TRAILER_BYTES = 64
_HEADER = struct.Struct("<8sII16s32s")       # magic, version, header size, id, reserved
_TRAILER = struct.Struct("<QQ32s8s8s")       # manifest offset, length, sha256, reserved, end magic
_READ_BLOCK = 16 << 20


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read: not a checkpoint, damaged, truncated,
    written by a newer version, or a manifest that does not describe its records."""


class BaseCheckpointError(CheckpointError):
    """A delta checkpoint whose base is missing, or is not the checkpoint it was saved
    against (another file at that path, or a damaged one)."""


def new_id() -> bytes:
    return uuid.uuid4().bytes


class Writer:
    """Writes one checkpoint to ``path`` atomically. Use as a context manager: leaving
    it by an exception removes the temporary file, and ``commit`` renames it over
    ``path``."""

    def __init__(self, path, checkpoint_id: bytes):
        self.path = os.path.abspath(os.fspath(path))
        directory, name = os.path.split(self.path)
        self.temp = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:12]}.partial")
        # os.open with 0o666 applies the process umask, as open() does for torch.save.
        fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        self.file = os.fdopen(fd, "wb")
        self.id = checkpoint_id
        self.file.write(_HEADER.pack(MAGIC, VERSION, HEADER_BYTES, checkpoint_id, bytes(32)))
        self.offset = HEADER_BYTES
        self.committed = False

    def add(self, parts) -> dict:
        """Appends one record made of the bytes-like ``parts``; returns its offset,
        length and SHA-256 (hex)."""
        digest = hashlib.sha256()
        length = 0
        for part in parts:
            view = memoryview(part).cast("B")
            digest.update(view)
            self.file.write(view)
            length += view.nbytes
        entry = {"offset": self.offset, "length": length, "sha256": digest.hexdigest()}
        self.offset += length
        return entry

    def commit(self, manifest: dict) -> str:
        """Writes the manifest and the trailer, syncs and renames the file over the
        target. Returns the manifest's SHA-256 (hex): the checkpoint's digest."""
        body = json.dumps(manifest, separators=(",", ":"), allow_nan=False).encode("utf-8")
        digest = hashlib.sha256(body).digest()
        self.file.write(body)
        self.file.write(_TRAILER.pack(self.offset, len(body), digest, bytes(8), END_MAGIC))
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.temp, self.path)
        self.committed = True
        _sync_directory(os.path.dirname(self.path))
        return digest.hex()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, trace):
        if not self.committed:
            self.file.close()
            try:
                os.unlink(self.temp)
            except FileNotFoundError:
                pass
        return False


def _sync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # platforms without directory handles
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Reader:
    """An open checkpoint whose header, trailer, manifest and record table have been
    checked. ``record(i)`` reads one record and checks its digest."""

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        self.file = open(self.path, "rb")
        try:
            self._open()
        except BaseException:
            self.file.close()
            raise

    def _fail(self, message):
        raise CheckpointError(f"{self.path}: {message}")

    def _open(self):
        size = os.fstat(self.file.fileno()).st_size
        head = self.file.read(HEADER_BYTES)
        if len(head) < len(MAGIC) or head[:len(MAGIC)] != MAGIC:
            self._fail("not an actzip checkpoint (no checkpoint header; torch.save files are read by torch.load)")
        if size < HEADER_BYTES + TRAILER_BYTES:
            self._fail(f"truncated: {size} bytes, a checkpoint has at least {HEADER_BYTES + TRAILER_BYTES}")
        _, version, header_size, ident, reserved = _HEADER.unpack(head)
        if version > VERSION:
            self._fail(f"container version {version}: written by a newer actzip (this one reads version {VERSION})")
        if version != VERSION or header_size != HEADER_BYTES or any(reserved):
            self._fail("damaged header")
        self.file.seek(size - TRAILER_BYTES)
        trailer = self.file.read(TRAILER_BYTES)
        offset, length, digest, reserved, end = _TRAILER.unpack(trailer)
        if end != END_MAGIC:
            self._fail("truncated or damaged: no trailer at the end of the file (an interrupted write leaves the "
                       "target untouched, so this file was cut or overwritten)")
        if any(reserved) or offset < HEADER_BYTES or offset + length + TRAILER_BYTES != size:
            self._fail("damaged trailer, or the file was truncated or extended")
        self.file.seek(offset)
        body = self.file.read(length)
        if len(body) != length or hashlib.sha256(body).digest() != digest:
            self._fail("damaged: the manifest does not match its checksum")
        try:
            manifest = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            self._fail(f"damaged manifest ({error})")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            self._fail("the manifest is not an actzip checkpoint manifest")
        if manifest.get("version") != VERSION:
            self._fail(f"manifest version {manifest.get('version')!r} (this actzip reads version {VERSION})")
        if manifest.get("id") != ident.hex():
            self._fail("damaged: the header's id differs from the manifest's")
        records = manifest.get("records")
        if not isinstance(records, list):
            self._fail("damaged manifest: no record list")
        for i, r in enumerate(records):
            if (not isinstance(r, dict) or not _is_count(r.get("offset")) or not _is_count(r.get("length"))
                    or not isinstance(r.get("sha256"), str) or len(r["sha256"]) != 64):
                self._fail(f"damaged manifest: record {i} has no offset, length or checksum")
        # The records tile the bytes between the header and the manifest exactly (in any
        # order of the list): no byte of the file is left unchecked.
        position = HEADER_BYTES
        for i in sorted(range(len(records)), key=lambda k: (records[k]["offset"], records[k]["length"])):
            if records[i]["offset"] != position:
                self._fail(f"damaged manifest: record {i} is not where the previous one ends")
            position += records[i]["length"]
        if position != offset:
            self._fail("damaged manifest: the records do not end where the manifest starts")
        self.manifest = manifest
        self.records = records
        self.id = ident.hex()
        self.digest = digest.hex()
        self.size = size

    def record(self, index: int) -> bytearray:
        """The bytes of record ``index``, checked against its digest."""
        r = self.records[index]
        self.file.seek(r["offset"])
        data = bytearray(r["length"])
        view = memoryview(data)
        got = 0
        while got < len(data):
            n = self.file.readinto(view[got:got + _READ_BLOCK])
            if not n:
                break
            got += n
        if got != len(data) or hashlib.sha256(data).hexdigest() != r["sha256"]:
            self._fail(f"damaged: record {index} ({r.get('name', '?')}) does not match its checksum")
        return data

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, trace):
        self.close()
        return False


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
