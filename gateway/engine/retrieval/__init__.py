"""Vector-store search: text analysis, attribute filters, rank fusion and the embeddings client."""
