"""Tests of the engine's store, each on SQLite (a file) and PostgreSQL."""
