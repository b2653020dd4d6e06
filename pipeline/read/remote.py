"""Remote: inputs in object stores (`s3://bucket/prefix/`, and any other fsspec file
system the user has installed), listed, opened and fingerprinted like local files.

Credentials come from the file system's usual sources (for S3: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_ENDPOINT_URL for S3-compatible stores).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, BinaryIO, cast

from pipeline.errors import ConfigError

EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system for `url` and the path inside it; a one-line error without it."""
    scheme = url.partition("://")[0]
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(url)
    except ImportError:
        extra = EXTRAS.get(scheme)
        how = (
            f"pip install 'realtrace[{extra}]'"
            if extra == "s3"
            else f"install fsspec's {scheme} file system"
        )
        raise ConfigError(f"{scheme}:// input needs its file system: {how}") from None
    except ValueError as exc:
        raise ConfigError(f"{url}: {exc}") from None
    return fs, path


def list_files(url: str) -> list[str]:
    """Every object under a prefix (or the one object named), as full URLs."""
    fs, path = filesystem(url)
    fs.invalidate_cache()  # a listing is a run's view of the store: never an earlier one
    scheme = url.partition("://")[0]
    if fs.isfile(path):
        return [url]
    return sorted(f"{scheme}://{p}" for p in fs.find(path))


def open_binary(url: str) -> BinaryIO:
    fs, path = filesystem(url)
    return cast(BinaryIO, fs.open(path, "rb"))


def size(url: str) -> int:
    fs, path = filesystem(url)
    return int(fs.size(path))


def fingerprint(url: str) -> tuple[int, int, str]:
    """(size, last-modified in ns, ETag): what says an object changed, without reading it."""
    fs, path = filesystem(url)
    info = fs.info(path)
    modified = info.get("LastModified") or info.get("mtime") or info.get("updated")
    if isinstance(modified, dt.datetime):
        mtime_ns = int(modified.timestamp() * 1e9)
    elif isinstance(modified, int | float):
        mtime_ns = int(modified * 1e9)
    else:
        mtime_ns = 0
    etag = str(info.get("ETag") or info.get("etag") or info.get("md5Hash") or "").strip('"')
    return int(info.get("size") or 0), mtime_ns, etag
