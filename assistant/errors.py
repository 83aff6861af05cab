"""The one error type every stage raises for what a user can act on, and how each front end shows it.

The message says what went wrong and how to fix it; the class says what the CLI exits with and
what HTTP status and OpenAI-style error type the API answers with, so each front end maps
``AssistantError`` once instead of listing the stages' errors.
"""

from __future__ import annotations


class AssistantError(Exception):
    exit_code = 1
    http_status = 500
    kind = "server_error"  # the OpenAI error "type"
    code: str | None = None
