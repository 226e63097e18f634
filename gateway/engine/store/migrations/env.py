"""Alembic environment: migrate the connection `gateway.engine.store.migrate` hands over, online only."""

from __future__ import annotations

from alembic import context

from gateway.engine.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the store's migrations through gateway.engine.store.migrate")
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
