"""The one error a policy calculator raises on bad input, naming the offending field."""

from __future__ import annotations


class DomainError(ValueError):
    """Invalid input to a policy calculator; ``field`` names the input (e.g. ``target``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
