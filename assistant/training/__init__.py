"""Training the reader (``assistant train-reader``); the runtime never imports this package."""
