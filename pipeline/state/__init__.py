"""State: what was delivered where, so a re-run neither duplicates nor loses a session."""
