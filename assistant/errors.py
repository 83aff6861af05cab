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


class DiskFullError(AssistantError):
    """The disk holding the index (or the model cache) is full: nothing is wrong with the index or the models."""

    exit_code, http_status, code = 8, 507, "disk_full"


def disk_full(exc: BaseException) -> DiskFullError | None:
    """A DiskFullError for an error that says the disk is full (ENOSPC, SQLite's "database or disk is full"), else None."""
    import errno

    text = str(exc).lower()
    if getattr(exc, "errno", None) == errno.ENOSPC or "disk is full" in text or "no space left" in text:
        return DiskFullError(f"the disk is full ({exc}); free some space and run the command again: nothing was lost")
    return None
