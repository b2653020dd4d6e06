"""Fingerprint: what identifies an input file's content cheaply, so a rerun can skip a
file unchanged since it was delivered without reading it."""

from __future__ import annotations

import hashlib
import os

from pipeline.read.remote import is_remote
from pipeline.records import FileInfo


def file_info(path: str) -> FileInfo:
    """Size, mtime and a content fingerprint (head and tail 64 KiB, size, and the inode's
    change time: cheap; a rewrite of the middle at the same size with its mtime put back is
    still seen, as no one can set a ctime); for an object in a store, its size,
    last-modified time and ETag."""
    if is_remote(path):
        from pipeline.read import remote

        size, mtime_ns, etag = remote.fingerprint(path)
        return FileInfo(path, size, mtime_ns, f"etag:{etag}")
    st = os.stat(path)
    h = hashlib.sha256(f"{st.st_size}/{st.st_ctime_ns}".encode())
    with open(path, "rb") as fh:
        h.update(fh.read(65536))
        if st.st_size > 65536:
            fh.seek(max(65536, st.st_size - 65536))
            h.update(fh.read(65536))
    return FileInfo(path, st.st_size, st.st_mtime_ns, h.hexdigest()[:32])
