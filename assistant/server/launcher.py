"""The server: the chat page at /, the OpenAI-compatible API at /v1 and the documents at /v1/documents,
on one port, bound to 127.0.0.1.

Started by `assistant serve` (or `python app.py`, the same command): the corpus is indexed
incrementally first, so a start embeds only what changed since the last one.
"""

from __future__ import annotations

import json
import sys

from assistant.facade import Assistant
from assistant.index.lock import IndexLockedError
from assistant.index.store import has_index
from assistant.server.ui import CITATION_LINKS_JS, CSS, build_app

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def launch_options(host: str, auth: str | None, no_auth: bool, api_key: str | None = None) -> dict:
    """Bind anywhere but this machine only with a password and an API key (or an explicit --no-auth)."""
    options = {}
    if auth:
        user, _, password = auth.partition(":")
        if not user or not password:
            raise SystemExit("--auth takes user:password")
        options["auth"] = (user, password)
    if host not in LOCAL_HOSTS and not no_auth:
        if not auth:
            raise SystemExit(f"refusing to listen on {host} without --auth user:password (or --no-auth, if you mean it)")
        if not api_key:
            raise SystemExit(f"refusing to serve /v1 on {host} without an API key: set ASSISTANT_API_KEY (or --no-auth)")
    return options


class BodyLimit:
    """ASGI middleware: a request body over the limit is refused (413) before anything reads it whole. Gradio parses
    a whole /ask body (a 20 MB history took 40 s and 1.4 GB), so every route gets a bound: uploads the upload
    limit, everything else 2 MB (a question, and a conversation of at most 1 MB: facade.check_history)."""

    def __init__(self, app, limit: int, upload_limit: int):
        self.app, self.limit, self.upload_limit = app, limit, upload_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        limit = self.upload_limit if path.endswith("/upload") or path.startswith("/v1/documents") else self.limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _too_large(send, limit)
        received = 0

        async def bounded():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # a chunked body with no length declared: cut off
                    return {"type": "http.disconnect"}
            return message

        return await self.app(scope, bounded, send)


async def _too_large(send, limit: int) -> None:
    message = f"the request body is over the limit of {limit:,} bytes"
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": "request_too_large"}}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


REQUEST_LIMIT = 2_000_000


def create_server(assistant: Assistant, options: dict, api_key: str | None):
    """One FastAPI app on one port: the OpenAI-compatible /v1 routes, and the Gradio page at /."""
    import gradio as gr
    from fastapi import FastAPI

    from assistant.server import documents_api, mcp_server, openai_api

    mcp, mcp_route = mcp_server.http_route(assistant, api_key, assistant.settings.host)
    server = FastAPI(
        title="Corpus assistant", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lambda _: mcp.session_manager.run()
    )
    server.include_router(openai_api.create_router(assistant, api_key))
    server.include_router(documents_api.create_router(assistant, api_key))
    server.router.routes.append(mcp_route)  # MCP over streamable HTTP at /mcp (mcp_server.py)
    upload_limit = int(assistant.settings.max_upload_mb * 1_000_000) + REQUEST_LIMIT
    server.add_middleware(BodyLimit, limit=REQUEST_LIMIT, upload_limit=upload_limit)
    blocks = build_app(assistant)
    blocks.queue(default_concurrency_limit=8)
    return gr.mount_gradio_app(
        server,
        blocks,
        path="",
        server_name=assistant.settings.host,
        server_port=assistant.settings.port,
        max_file_size=int(assistant.settings.max_upload_mb * 1_000_000),
        css=CSS,
        js=CITATION_LINKS_JS,
        **options,
    )


def serve(assistant: Assistant, auth: str | None = None, no_auth: bool = False, ingest: bool = True) -> None:
    """Index the corpus (unless told not to), then serve until stopped. IndexMismatchError reaches the caller."""
    settings = assistant.settings
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    options = launch_options(settings.host, auth, no_auth, api_key)
    for path in assistant.recover_uploads():
        print(f"assistant serve: removed {path}: its upload was cut off before the index held it", file=sys.stderr)
    if ingest:
        try:  # incremental: embeds only what is new or changed since the last run, so start-up stays quick
            print(assistant.ingest().summary(), file=sys.stderr)
        except IndexLockedError as exc:  # serve the index as it stands; that ingest brings it up to date
            print(f"assistant serve: corpus not indexed at start-up: {exc}", file=sys.stderr)
    assistant.preload()  # the reader loads while the UI is built
    if has_index(settings):
        assistant.index  # noqa: B018 -- opened once before serving: concurrent first requests raced on it
    import uvicorn

    server = create_server(assistant, options, api_key)
    print(f"Serving the chat on http://{settings.host}:{settings.port}/ and the API on /v1", file=sys.stderr)
    uvicorn.run(server, host=settings.host, port=settings.port, log_level="warning")
