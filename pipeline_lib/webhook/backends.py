"""Open the trigger store a ``--store`` value names."""

from __future__ import annotations

from pathlib import Path

from .postgres_store import PostgresStore
from .sqlite_store import SQLiteStore
from .store import DEFAULT_TTL, TriggerStore


def is_postgres(url: str | Path) -> bool:
    return str(url).startswith(("postgresql://", "postgres://"))


def open_store(url: str | Path, ttl: float = DEFAULT_TTL) -> TriggerStore:
    """``postgresql://…`` / ``postgres://…`` (a libpq URL; the password best comes from
    PGPASSWORD or ~/.pgpass) or a SQLite file: a path, or ``sqlite:///relative`` /
    ``sqlite:////absolute`` as SQLAlchemy spells them. Raises GantryError when it cannot open.
    Leases and due times follow the store's clock, never this process's (:mod:`.store`)."""
    text = str(url)
    if is_postgres(text):
        return PostgresStore(text, ttl=ttl)
    path = text[len("sqlite:///"):] if text.startswith("sqlite:///") else text
    return SQLiteStore(path, ttl=ttl)
