"""Present: the documents of the index over HTTP, for scripts and for hosts that share one index.

``GET /v1/documents`` lists them, ``POST /v1/documents?name=FILE`` (the file's bytes as the body)
uploads and indexes one as the chat's upload button does, ``DELETE /v1/documents/{doc_id}``
removes one. The same API key as ``/v1/chat/completions``; errors in the same JSON shape.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from assistant.errors import AssistantError
from assistant.facade import Assistant
from assistant.server.openai_api import ApiError, check_api_key, read_body


def create_router(assistant: Assistant, api_key: str | None) -> APIRouter:
    router = APIRouter(prefix="/v1/documents")

    def record(doc) -> dict:
        return {"doc_id": doc.doc_id, "path": doc.path, "title": doc.title, "chunks": doc.n_chunks, "indexed_at": doc.indexed_at}

    async def call(request: Request, work):
        try:
            check_api_key(request, api_key)
            return await run_in_threadpool(work)
        except ApiError as exc:
            return exc.response()
        except AssistantError as exc:  # a refused upload, the index locked or unreachable: the status its class states
            return ApiError.of(exc).response()
        except Exception as exc:  # noqa: BLE001 -- a fault of ours, still in the API's error shape
            return ApiError(500, f"{type(exc).__name__}: {exc}", kind="server_error").response()

    @router.get("")
    async def list_documents(request: Request):
        return await call(request, lambda: {"data": [record(doc) for doc in assistant.documents()]})

    @router.post("")
    async def upload(request: Request, name: str):
        limit = int(assistant.settings.max_upload_mb * 1e6)
        try:
            check_api_key(request, api_key)  # before a byte of the body is read
            data = await read_body(request, limit, f"the file (limit {assistant.settings.max_upload_mb:g} MB)")
        except ApiError as exc:
            return exc.response()

        def work():
            report = assistant.upload(name, data)
            added = {doc.path: doc for doc in assistant.documents()}
            return {"data": [record(added[path]) for path in report.added + report.updated if path in added]}

        return await call(request, work)

    @router.delete("/{doc_id}")
    async def delete(request: Request, doc_id: str, remove_file: bool = False):
        def work():
            removed = assistant.delete(doc_id, remove_file=remove_file)
            if removed is None:
                raise ApiError(404, f"no indexed document {doc_id}", "document_not_found")
            return {"deleted": doc_id, "path": removed}

        return await call(request, work)

    return router
