"""Presenting: ``launcher.serve`` runs the chat page (``ui``) and the OpenAI-compatible API (``openai_api``) on one port."""
