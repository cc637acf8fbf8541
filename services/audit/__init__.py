"""The audit service: an append-only, hash-chained, Merkle-checkpointed log of every segflow event."""
