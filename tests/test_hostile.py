"""Hostile values in logs: what a bad field may not do to the trace (issue 35)."""

from __future__ import annotations

from pipeline.core.attributes import usage_metrics


def test_negative_and_odd_token_counts_are_left_out_never_passed_on() -> None:
    usage = {
        "input_tokens": -5,
        "output_tokens": 20,
        "total_tokens": float("inf"),
        "input_token_details": {"cached_tokens": True, "audio_tokens": "12"},
        "output_token_details": {"audio_tokens": 0},
    }
    assert usage_metrics(usage) == {"completion_tokens": 20, "completion_audio_tokens": 0}
