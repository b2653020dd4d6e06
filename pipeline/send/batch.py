"""Batch: group encoded spans into export requests bounded in span count and bytes.

Sessions are kept together where they fit, so a session usually travels in one
request; a session larger than a request is split, and every batch remembers
which sessions it carries (and whether it completes them) for delivery tracking.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pipeline.records import SessionSpans

# Per-span framing inside ScopeSpans (tag + length varint), plus request envelope.
_SPAN_OVERHEAD = 6
REQUEST_OVERHEAD = 512


@dataclass(slots=True)
class Batch:
    """Spans for one export request and the sessions they belong to."""

    spans: list[bytes] = field(default_factory=list)  # encoded spans (see SessionSpans)
    nbytes: int = REQUEST_OVERHEAD
    # session key -> number of that session's spans in this batch
    sessions: dict[str, int] = field(default_factory=dict)

    def add(self, session_key: str, span: bytes, size: int) -> None:
        self.spans.append(span)
        self.nbytes += size
        self.sessions[session_key] = self.sessions.get(session_key, 0) + 1


def span_size(span: bytes) -> int:
    """Encoded size in a request: the span's bytes and their framing (a protobuf tag and
    length, or a JSON comma)."""
    return len(span) + _SPAN_OVERHEAD


def make_batches(
    sessions: Iterable[SessionSpans],
    max_spans: int,
    max_bytes: int,
) -> Iterator[Batch]:
    """Fill batches session by session; start a new batch rather than split a session that fits."""
    current = Batch()
    for sess in sessions:
        encoded = sess.spans
        sizes = [span_size(s) for s in encoded]
        total = sum(sizes)
        fits_alone = len(encoded) <= max_spans and total + REQUEST_OVERHEAD <= max_bytes
        if (
            current.spans
            and fits_alone
            and (
                len(current.spans) + len(encoded) > max_spans or current.nbytes + total > max_bytes
            )
        ):
            yield current
            current = Batch()
        for span, size in zip(encoded, sizes, strict=True):
            if current.spans and (
                len(current.spans) >= max_spans or current.nbytes + size > max_bytes
            ):
                yield current
                current = Batch()
            current.add(sess.session_key, span, size)
    if current.spans:
        yield current
