"""Revision scripts, written by hand; `tests/engine/store` checks head against `tables.metadata`."""
