"""Alembic migrations of the job store (run on start by ``JobStore(url)``; see store.migrate)."""
