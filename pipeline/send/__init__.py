"""Send: batches through a chain of small senders (split, retry, transport, file, dead letter)."""
