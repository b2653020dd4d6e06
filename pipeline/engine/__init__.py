"""Engines: where the pure core runs (in process, in a process pool, on a Ray cluster)."""
