"""The index: ``store.Index`` opens the catalog (source of truth), the vectors and BM25 together; ``embedding.Encoder``."""
