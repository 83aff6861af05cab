"""Evaluation: answer quality on a gold set (``gold``), retrieval on BEIR data (``beir``); deterministic, no LLM judge."""
