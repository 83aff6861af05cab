"""Ingest: read -> chunk -> embed -> store.

Public: ``pipeline.ingest``, ``pipeline.delete_documents``, ``uploads.check_upload``."""
