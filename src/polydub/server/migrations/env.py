"""Alembic environment: runs on the connection that ``polydub.server.schema.migrate`` hands over."""

from alembic import context

connection = context.config.attributes["connection"]
# No batch mode: SQLite's table rebuild would drop `jobs`, and ON DELETE CASCADE would empty `events`.
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
