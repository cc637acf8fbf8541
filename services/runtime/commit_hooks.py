"""Writes deferred to just before a transaction commits: per-transaction state and the flush that writes it.

A store collects what it will write (rows to upsert, versions to bump, operations to replay) in a state
object of the session's transaction and writes it once, in a few statements, when the unit of work commits:
``deferred(session, key, factory, flush)`` returns the transaction's state under ``key``; its first call
in a transaction creates the state with ``factory()`` and registers ``flush``.

Rules:
- One listener (installed on ``Session`` when this module is imported, once per process) runs just before
  a transaction commits; it calls ``flush(sync_session, state)`` once for every key registered in that
  transaction, in registration order, then forgets the states. Each flush writes in the order its caller
  documents (rows in key order, for one lock order across transactions).
- A key deferred with ``last=True`` is flushed after every key deferred without it, whenever it was
  registered: for writes that must follow all the others (e.g. change counters bumped as the transaction's
  last statements, so their row locks are held only for the commit).
- A flush that raises fails the commit: the unit of work rolls back and nothing deferred is written.
- A rolled-back transaction discards its states unwritten: a state belongs to the root transaction it was
  created in, and a later transaction on the same session starts empty.
- ``flush_now(session, key)`` writes the key's state at once (read your own writes before a query) and
  discards it; a later ``deferred`` for the key starts a fresh state (registered after the others), so
  callers fetch the state with ``deferred`` instead of holding it across a ``flush_now``.
- A savepoint's release (``begin_nested``) runs them too, as the commit hook of everything deferred so far
  (written inside the root transaction, which can still roll it back); a savepoint's rollback discards
  nothing.
- ``deferred`` needs an open transaction (``Database.unit_of_work`` or ``session.begin()``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

State = TypeVar("State")
Flush = Callable[[Session, Any], None]

_HOOKS = "segflow.runtime.commit_hooks"


@dataclass
class _Hooks:
    """The deferred states of one root transaction, by key, in registration order."""

    transaction: SessionTransaction
    states: dict[str, tuple[Any, Flush, bool]] = field(default_factory=dict)  # state, flush, last


def _hooks_of(session: Session) -> _Hooks:
    transaction = session.get_transaction()
    if transaction is None:
        raise RuntimeError("deferred writes need an open transaction (unit_of_work or session.begin())")
    hooks: _Hooks | None = session.info.get(_HOOKS)
    if hooks is None or hooks.transaction is not transaction:  # none yet, or left by a rolled-back one
        hooks = session.info[_HOOKS] = _Hooks(transaction)
    return hooks


def deferred(
    session: AsyncSession,
    key: str,
    factory: Callable[[], State],
    flush: Callable[[Session, State], None],
    *,
    last: bool = False,
) -> State:
    """The state under ``key`` of the session's transaction; the first call in a transaction creates it with
    ``factory()`` and registers ``flush(sync_session, state)`` to run just before the transaction commits
    (after the keys registered without ``last`` when ``last``; later calls return the same state and ignore
    their ``factory``, ``flush`` and ``last``)."""
    hooks = _hooks_of(session.sync_session)
    entry = hooks.states.get(key)
    if entry is None:
        entry = hooks.states[key] = (factory(), flush, last)
    state: State = entry[0]
    return state


async def flush_now(session: AsyncSession, key: str) -> None:
    """Write the state under ``key`` now (before a query that must see it) and discard it; nothing when the
    transaction has no state under ``key``."""
    hooks: _Hooks | None = session.info.get(_HOOKS)
    if hooks is None or hooks.transaction is not session.sync_session.get_transaction():
        return
    entry = hooks.states.pop(key, None)
    if entry is not None:
        state, flush, _ = entry
        await session.run_sync(flush, state)


@event.listens_for(Session, "before_commit")
def _flush_before_commit(session: Session) -> None:
    """Run the committing transaction's flushes in registration order, the ``last`` ones after the others
    (an exception fails the commit)."""
    if _HOOKS not in session.info:
        return
    hooks: _Hooks = session.info.pop(_HOOKS)
    if hooks.transaction is not session.get_transaction():
        return  # left by a rolled-back transaction: discarded
    entries = list(hooks.states.values())
    for state, flush, _ in [e for e in entries if not e[2]] + [e for e in entries if e[2]]:
        flush(session, state)
