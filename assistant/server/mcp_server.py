"""Present: the assistant as a Model Context Protocol server, for agents and editors (Claude Desktop, VS Code,
Cursor, Zed, Open WebUI's tool servers, LlamaIndex and LangChain agents), on the official SDK (``mcp``).

Four tools over the facade (what `assistant ask --json` gives, and the passages it reads), and each indexed
document as a resource. Two transports: stdio (``assistant mcp``, for a desktop client's config) and streamable
HTTP at ``/mcp`` on the chat's port, behind the same API key as ``/v1`` off 127.0.0.1 (launcher.py).
Errors come from the project's one error table (errors.py) as MCP tool errors with their message.
Imported only by `assistant mcp` and the server (the SDK is not needed to ask a question).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.types import CallToolResult, TextContent
from pydantic import Field

from assistant.answering.answer import with_sources
from assistant.errors import AssistantError
from assistant.facade import Assistant

MAX_READ_CHARS = 20_000  # read_document returns at most this many characters at once
MAX_SEARCH_K = 50

INSTRUCTIONS = (
    "Answers questions from the user's own indexed documents, offline. Every answer sentence is a passage of the "
    "documents, cited by exact character span; 'outcome' says whether it is asserted ('answered'), a possible "
    "answer ('uncertain'), or not in the documents. Prefer `ask`; use `search` to read passages yourself."
)


def _tool_errors(work):
    """Run work; the project's errors (and bad arguments) become MCP tool errors that say what is wrong."""
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        return work()
    except (AssistantError, ValueError) as exc:
        raise ToolError(str(exc)) from None


def build_mcp(assistant: Assistant):
    """The MCP server object with its tools and resources (transport chosen by the caller)."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name="corpus-assistant", instructions=INSTRUCTIONS)

    @server.tool(
        description="Answer a question from the indexed documents. Returns the outcome (answered, uncertain, "
        "not_stated, not_found), the calibrated confidence, the answer text with [n] markers, the answer's exact "
        "words (answer_span) and each citation's file, character span and quote. Quote the answer from its text."
    )
    def ask(
        question: Annotated[str, Field(description="the question, in English")],
        documents: Annotated[list[str] | None, Field(description="ask only these documents (ids, paths or file names)")] = None,
        history: Annotated[
            list[dict[str, str]] | None, Field(description="earlier turns, [{role: user|assistant, content}], for follow-ups")
        ] = None,
    ) -> CallToolResult:
        answer = _tool_errors(lambda: assistant.ask(question, history, documents=documents))
        return CallToolResult(content=[TextContent(type="text", text=with_sources(answer))], structured_content=answer.to_json())

    @server.tool(
        description="Search the indexed documents and return the best passages with their file, character span "
        "and scores, without answering: for reading and answering yourself."
    )
    def search(
        query: Annotated[str, Field(description="what to look for")],
        k: Annotated[int, Field(ge=1, le=MAX_SEARCH_K, description="how many passages")] = 5,
        documents: Annotated[list[str] | None, Field(description="search only these documents (ids, paths or names)")] = None,
    ) -> dict[str, Any]:
        return {"passages": _tool_errors(lambda: assistant.search(query, k, documents))}

    @server.tool(description="List the indexed documents: id, title, path and number of chunks.")
    def list_documents() -> dict[str, Any]:
        return {"documents": _tool_errors(lambda: [_document(d) for d in assistant.documents()])}

    @server.tool(
        description=f"Read a document's text, or characters start to end of it (at most {MAX_READ_CHARS:,} at a "
        "time): open a cited span with the start and end a citation gives."
    )
    def read_document(
        doc_id: Annotated[str, Field(description="the document's id (from list_documents or a citation)")],
        start: Annotated[int, Field(ge=0)] = 0,
        end: Annotated[int | None, Field(ge=0, description="default: start + the limit")] = None,
    ) -> dict[str, Any]:
        return _tool_errors(lambda: read(assistant, doc_id, start, end))

    @server.resource("document://{doc_id}", description="An indexed document's text", mime_type="text/plain")
    def document(doc_id: str) -> str:
        return _tool_errors(lambda: read(assistant, doc_id, 0, None))["text"]

    return server


def _document(record) -> dict[str, Any]:
    return {"doc_id": record.doc_id, "title": record.title, "path": record.path, "chunks": record.n_chunks}


def read(assistant: Assistant, doc_id: str, start: int, end: int | None) -> dict[str, Any]:
    """Characters start:end of an indexed document, at most MAX_READ_CHARS; ValueError for one not indexed."""
    found = assistant.document(doc_id)
    if found is None:
        raise ValueError(f"no indexed document {doc_id!r} (list_documents gives the ids)")
    record, text = found
    end = min(len(text), start + MAX_READ_CHARS if end is None else end, start + MAX_READ_CHARS)
    if start > len(text) or end < start:
        raise ValueError(f"characters {start}-{end} are outside the document (0-{len(text)})")
    return {"doc_id": doc_id, "title": record.title, "path": record.path, "start": start, "end": end,
            "length": len(text), "text": text[start:end]}  # fmt: skip


def run_stdio(assistant: Assistant) -> None:
    """`assistant mcp`: the server on this process's stdin and stdout (stdout carries only the protocol)."""
    assistant.preload()
    build_mcp(assistant).run("stdio")


def http_route(assistant: Assistant, api_key: str | None, host: str):
    """(the server, a Starlette route for /mcp) for the launcher to add beside the chat and /v1; with an api_key,
    every request must carry `Authorization: Bearer <key>`. The server's session manager must run in the app's
    lifespan (``server.session_manager.run()``)."""
    from starlette.routing import Route

    server = build_mcp(assistant)
    app = server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True, host=host)
    endpoint = next(route for route in app.routes if getattr(route, "path", "") == "/mcp").app
    return server, Route(
        "/mcp", endpoint=KeyRequired(endpoint, api_key) if api_key else endpoint, methods=["GET", "POST", "DELETE"]
    )


class KeyRequired:
    """ASGI middleware: a request without the API key gets 401 in the /v1 error shape."""

    def __init__(self, app, api_key: str):
        self.app, self.api_key = app, api_key

    async def __call__(self, scope, receive, send):
        import hmac

        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
                body = json.dumps({"error": {"message": "a valid API key is required: Authorization: Bearer <key>",
                                             "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()  # fmt: skip
                await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
