"""Private files: what realtrace writes holds transcripts (output, dead letter, rejected
spans, rejects, report, state, audio), so it is created readable by its owner only (0600),
in folders it creates 0700, whatever the umask; a file that exists keeps the permissions
it has.

Nothing is written through a symbolic link: a link planted at an output, rejects or report
path (or at a temporary file's name) would have realtrace overwrite its target. Files are
opened with `O_NOFOLLOW`; whole-file writes go to a temporary file created exclusively in
the target's folder (a fresh random name, `O_EXCL`), then renamed over the target, which
replaces a link instead of following it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

MODE = 0o600
DIR_MODE = 0o700
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
STDOUT = Path("/dev/stdout")  # `--output -`: a link by nature, the one followed


def mkdir(folder: Path) -> None:
    """`folder` and its missing parents, each created 0700 whatever the umask."""
    missing = []
    for p in (folder, *folder.parents):
        if p.exists():
            break
        missing.append(p)
    for p in reversed(missing):
        with contextlib.suppress(FileExistsError):
            p.mkdir(mode=DIR_MODE)
            os.chmod(p, DIR_MODE)  # the umask may have taken bits of the mode away


def create(path: Path, append: bool = False) -> int:
    """A file descriptor for writing `path` (truncated unless `append`), created 0600; a
    symbolic link there is refused (ELOOP), never followed."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    try:
        nofollow = 0 if path == STDOUT else _NOFOLLOW
        return os.open(path, flags | getattr(os, "O_CLOEXEC", 0) | nofollow, MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(
                errno.ELOOP, "a symbolic link: refusing to write through it", str(path)
            ) from None
        raise


def open_text(path: Path, append: bool = False) -> IO[Any]:
    return os.fdopen(create(path, append), "a" if append else "w", encoding="utf-8")


def touch(path: Path) -> None:
    """Create `path` empty and 0600 if it does not exist yet (a state, a lock)."""
    os.close(create(path, append=True))


@contextlib.contextmanager
def replacing(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write `path` whole or not at all: a temporary file created exclusively (0600) beside
    it, renamed over it when the block ends without error, removed otherwise."""
    mkdir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PLAIN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,79}")


def safe_name(text: str) -> str:
    """A file or folder name for an id, injective and confined: an id that is already a
    plain name (letters, digits, `._-`, not starting with a dot, at most 80 characters) is
    kept as it is; any other (`..`, `acme/call-1`, 300 characters) becomes a readable prefix
    and a digest of the whole id, so no name escapes its folder and two ids never share one
    (`acme/call-1` and `acme_call-1` differ)."""
    if _PLAIN.fullmatch(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    prefix = _SAFE.sub("_", text).lstrip(".")[:60]
    return f"{prefix}~{digest}" if prefix else f"~{digest}"
