"""Answering: ``extractive.ExtractiveAnswerer`` (the default) and ``generative.GenerativeAnswerer``
turn retrieved passages into an ``answer.Answer``."""
