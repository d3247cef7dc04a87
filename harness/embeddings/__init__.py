"""Text embeddings for scorers (semantic similarity, ragas' answer relevancy)."""
