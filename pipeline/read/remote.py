"""Remote: inputs in object stores (`s3://bucket/prefix/`, and any other fsspec file
system the user has installed), listed, opened and fingerprinted like local files.

Credentials come from the file system's usual sources (for S3: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_ENDPOINT_URL for S3-compatible stores).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, BinaryIO, cast

from pipeline.errors import ConfigError


def is_remote(path: str) -> bool:
    """A URL with a scheme other than file:// (s3://…) names objects, not local files."""
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme not in ("", "file")


EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system for `url` and the path inside it; a one-line error without it."""
    scheme = url.partition("://")[0]
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(url, **_options(scheme))
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


def _options(scheme: str) -> dict[str, Any]:
    """S3: a dead endpoint found in seconds (5 s to connect, two attempts), not after
    botocore's default retries; other stores as their file systems default."""
    if EXTRAS.get(scheme) == "s3":
        retries = {"max_attempts": 2, "mode": "standard"}
        return {"config_kwargs": {"connect_timeout": 5, "read_timeout": 60, "retries": retries}}
    return {}


# What an object store's failures mean to a user: the class name (botocore's, s3fs's,
# the OS's), and what to set or check
_STORE_FAILURES = {
    "NoCredentialsError": "no credentials found: set AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
    "PartialCredentialsError": "incomplete credentials: set both AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
    "EndpointConnectionError": "cannot reach the object store: check the network and "
    "AWS_ENDPOINT_URL (for an S3-compatible store)",
    "ConnectTimeoutError": "the object store did not answer: check the network and "
    "AWS_ENDPOINT_URL",
    "PermissionError": "access denied: check the credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE) "
    "and the bucket's policy",
    "InvalidAccessKeyId": "the access key is not known: check AWS_ACCESS_KEY_ID",
    "SignatureDoesNotMatch": "the secret key does not match: check AWS_SECRET_ACCESS_KEY",
    "ClientError": "refused by the object store: check the credentials and the bucket",
}  # the most specific first


def store_error(url: str, exc: BaseException) -> ConfigError:
    """An object store's failure as a configuration error naming what to set."""
    names = [type(exc).__name__, *(c.__name__ for c in type(exc).__mro__)]
    text = str(exc)
    for key, fix in _STORE_FAILURES.items():
        if key in names or key in text:
            return ConfigError(f"{url}: {fix}")
    return ConfigError(f"{url}: the object store failed ({type(exc).__name__}: {text[:200]})")


def list_files(url: str) -> list[str]:
    """Every object under a prefix (or the one object named), as full URLs; a failure to
    list (credentials, endpoint, permissions) is a configuration error naming the fix."""
    fs, path = filesystem(url)
    fs.invalidate_cache()  # a listing is a run's view of the store: never an earlier one
    scheme = url.partition("://")[0]
    try:
        if fs.isfile(path):
            return [url]
        return sorted(f"{scheme}://{p}" for p in fs.find(path))
    except FileNotFoundError:
        raise ConfigError(f"{url}: no such bucket or prefix") from None
    except Exception as exc:
        raise store_error(url, exc) from None


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
