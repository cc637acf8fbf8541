"""Pure core of the audit service: hash chain, RFC 9162 Merkle trees, signed tree heads, erasure, archives.

Nothing here does I/O or reads a clock: storage, Kafka consumption and the API call these functions on
rows they already hold. Sequence numbers start at 0 so an entry's ``seq`` is also its Merkle leaf index.
"""
