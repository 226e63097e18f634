"""Ingestion of uploaded files: text extraction, chunking; the worker that runs it."""
