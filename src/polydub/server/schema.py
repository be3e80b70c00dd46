"""Create or upgrade the job store's schema on start (Alembic revisions in ``migrations/versions``).

A store made by the first server release has ``jobs`` and ``events`` but no ``alembic_version``
table: it is stamped as revision 0001 (that schema) and upgraded in place, keeping every job.
The server and every worker may start at once, so migrations run under a lock: a PostgreSQL
advisory lock, or an exclusive file lock beside a SQLite database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, inspect, text

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0003"
_PG_LOCK_KEY = 0x706F6C79  # "poly"


def _config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@contextlib.contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: single-process use only
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest revision; returns the revision now in place."""
    from alembic import command

    postgres = engine.dialect.name == "postgresql"
    guard = contextlib.nullcontext() if postgres else _file_lock(engine)
    with guard, engine.connect() as conn:
        if postgres:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            conn.commit()
        try:
            tables = set(inspect(conn).get_table_names())
            cfg = _config(conn)
            if "jobs" in tables and "alembic_version" not in tables:
                command.stamp(cfg, "0001")  # the first release's schema, made by create_all()
            command.upgrade(cfg, "head")
            conn.commit()
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() or HEAD
        finally:
            if postgres:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                conn.commit()
