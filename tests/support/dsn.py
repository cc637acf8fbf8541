"""asyncpg speaks plain ``postgresql://`` DSNs; the settings carry SQLAlchemy ``postgresql+asyncpg://`` URLs."""

from __future__ import annotations

from sqlalchemy.engine import make_url


def asyncpg_dsn(sqlalchemy_url: str, database: str | None = None) -> str:
    """The DSN of ``sqlalchemy_url`` (optionally of another ``database`` on the same server)."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)
