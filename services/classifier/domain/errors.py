"""Domain errors of the classifier: every rule violation raises a ``DomainError`` subclass."""

from __future__ import annotations


class DomainError(Exception):
    """A request that breaks a classifier domain rule; the message says which rule and why."""


class InvalidInput(DomainError):
    """Inputs that cannot be classified (shape mismatch, duplicate ids, ...)."""


class InvalidRuleSet(DomainError):
    """A rule set that failed validation; ``issues`` lists each problem with its path."""

    def __init__(self, issues: list) -> None:  # list[RuleSetIssue]; untyped to avoid an import cycle
        self.issues = issues
        lines = "; ".join(f"{issue.path}: {issue.message}" for issue in issues)
        super().__init__(f"invalid rule set: {lines}")


class OverrideError(DomainError):
    """An override lifecycle rule was violated."""


class MissingReason(OverrideError):
    """An override request without a reason."""


class InvalidExpiry(OverrideError):
    """An override whose expiry is missing or not in the future."""


class FourEyesViolation(OverrideError):
    """The approver of an override is its requester."""


class NotAnApprover(OverrideError):
    """The deciding user does not hold the approver role."""


class InvalidTransition(OverrideError):
    """The override is not in a state that allows the requested transition."""
