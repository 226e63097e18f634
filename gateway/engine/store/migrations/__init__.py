"""Alembic revisions of the engine's store (run by `gateway.engine.store.migrate`)."""
