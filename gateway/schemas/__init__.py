"""Wire models and the status vocabulary (`status`) only, no behaviour."""
