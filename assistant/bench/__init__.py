"""The benchmark (``python -m assistant.bench``); the runtime never imports this package."""
