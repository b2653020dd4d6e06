"""Deterministic trace and span ids (trace model §2), so re-runs yield identical identities."""

from __future__ import annotations

from hashlib import sha256


def trace_id(session_key: str) -> bytes:
    """16 bytes: SHA-256("realtrace/" + session key)."""
    return sha256(f"realtrace/{session_key}".encode()).digest()[:16]


def span_id(session_key: str, span_key: str) -> bytes:
    """8 bytes: SHA-256(session key + "/" + span key)."""
    return sha256(f"{session_key}/{span_key}".encode()).digest()[:8]
