"""The gateway's pure rules: token-bucket rate limiting, degraded promises, webhook signing and backoff."""
