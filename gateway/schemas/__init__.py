"""Wire models only, no behaviour."""
