"""Present: the OpenAI chat-completions protocol over the facade (`/v1/models`, `/v1/chat/completions`).

Any client that speaks it (the `openai` SDK, Open WebUI, LibreChat, editors) gets the answer text
with its ``[n]`` markers as the message content; the full checked result (outcome, confidence,
citations with path, span and quote, each sentence's support and verdict) rides along in the
extra field ``corpus_assistant``, the same JSON as ``assistant ask --json``.

Streaming sends the checked answer, never unchecked LLM tokens: the text is only final once its
citations are verified, so the chunks concatenate to exactly the non-streamed content.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from assistant.answering.answer import with_sources
from assistant.errors import AssistantError
from assistant.facade import MAX_HISTORY_MESSAGES, Assistant
from assistant.server.api_models import AssistantMessage, ChatCompletion, ChatCompletionRequest, Choice, ModelCard, ModelList

MODEL_PREFIX = "corpus-assistant"
MAX_BODY_BYTES = 1_000_000
STREAM_WORDS = 6  # words per streamed chunk


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None, kind: str = ""):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.kind = kind or ("authentication_error" if status == 401 else "invalid_request_error")

    @classmethod
    def of(cls, error: AssistantError) -> ApiError:
        """A stage's error with the status and type its class states (assistant/errors.py)."""
        return cls(error.http_status, str(error), error.code, kind=error.kind)

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status)


async def read_body(request: Request, limit: int, what: str = "the request") -> bytes:
    """The body, read only up to ``limit`` bytes: a declared or streamed (chunked) body past it is refused with 413
    before it is held in memory. Call it after the API key is checked, so a request without one reads nothing."""
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:
        raise ApiError(400, "the Content-Length header is not a number") from None
    if declared > limit:
        raise ApiError(413, f"{what} is {declared:,} bytes; the limit is {limit:,}")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise ApiError(413, f"{what} is over the limit of {limit:,} bytes")
    return bytes(body)


def check_api_key(request: Request, api_key: str | None) -> None:
    if api_key is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        raise ApiError(401, "a valid API key is required: Authorization: Bearer <key>", "invalid_api_key")


def model_names(assistant: Assistant) -> dict[str, str]:
    """Model id -> answer mode: the default mode as `corpus-assistant`, generative when an LLM is configured."""
    names = {MODEL_PREFIX: "extractive"}
    if "generative" in assistant.answer_modes:
        names[f"{MODEL_PREFIX}-generative"] = "generative"
    return names


@dataclass(frozen=True)
class ParsedRequest:
    model: str
    question: str
    history: list[dict]
    stream: bool
    documents: list[str] | None
    sources: bool


def parse_request(body: bytes, models: dict[str, str]) -> ParsedRequest:
    """What a chat-completions body asks; ApiError saying what is wrong."""
    try:
        request = ChatCompletionRequest.model_validate_json(body)
    except ValidationError as exc:
        raise _invalid(exc) from None
    if request.model is None:  # as many OpenAI-compatible servers do: the default mode, the last listed
        request.model = list(models)[-1]
    if request.model not in models:
        raise ApiError(400, f"unknown model {request.model!r}; available: {', '.join(models)}", "model_not_found", "model")
    if not request.messages:
        raise ApiError(400, "messages must be a non-empty list", param="messages")
    if len(request.messages) > MAX_HISTORY_MESSAGES:
        raise ApiError(400, f"at most {MAX_HISTORY_MESSAGES} messages per request", param="messages")
    if request.messages[-1].role != "user":
        raise ApiError(400, "the last message must be the user's question", param="messages")
    question = request.messages[-1].text.strip()
    if not question:
        raise ApiError(400, "the question (the last user message) is empty", param="messages")
    history = [{"role": m.role, "content": m.text} for m in request.messages[:-1] if m.role in ("user", "assistant")]
    return ParsedRequest(request.model, question, history, request.stream, request.documents, request.sources)


def _invalid(exc: ValidationError) -> ApiError:
    """The first validation error in the words of the API's other errors."""
    error = exc.errors()[0]
    where = [str(part) for part in error["loc"]]
    if error["type"] == "json_invalid":
        return ApiError(400, f"the request body is not valid JSON ({error['ctx'].get('error', '')})")
    if not where:
        return ApiError(400, "the request body must be a JSON object")
    if where[0] == "messages":
        wanted = "each message needs a role (system, user or assistant) and content"
        return ApiError(400, f"{wanted}: {error['msg']}", param="messages")
    if where[0] == "stream":
        return ApiError(400, "stream must be true or false", param="stream")
    return ApiError(400, f"{'.'.join(where)}: {error['msg']}", param=where[0])


def create_router(assistant: Assistant, api_key: str | None = None) -> APIRouter:
    """The /v1 routes; with an api_key every request must carry `Authorization: Bearer <key>`."""
    router = APIRouter(prefix="/v1")

    def check_key(request: Request) -> None:
        check_api_key(request, api_key)

    @router.get("/models")
    def list_models(request: Request):
        try:
            check_key(request)
        except ApiError as exc:
            return exc.response()
        return ModelList(data=[ModelCard(id=name, owned_by=MODEL_PREFIX) for name in model_names(assistant)]).model_dump()

    @router.post("/chat/completions")
    async def chat_completions(request: Request):
        try:
            check_key(request)
            body = await read_body(request, MAX_BODY_BYTES)
            models = model_names(assistant)
            asked = parse_request(body, models)
        except ApiError as exc:
            return exc.response()
        from starlette.concurrency import run_in_threadpool

        model, question, history = asked.model, asked.question, asked.history
        try:
            answer = await run_in_threadpool(assistant.ask, question, history, None, models[model], asked.documents)
        except AssistantError as exc:  # no index, a missing reader, a server down, an LLM failure without fallback
            return ApiError.of(exc).response()
        except ValueError as exc:  # e.g. a question over the length limit
            return ApiError(400, str(exc), param="messages").response()
        except Exception as exc:  # noqa: BLE001 -- a fault of ours: a 500 in the API's shape, not a traceback
            return ApiError(500, f"{type(exc).__name__}: {exc}", kind="server_error").response()
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        content = with_sources(answer) if asked.sources else answer.answer
        usage = token_usage(assistant, models[model], [*history, {"content": question}], content)
        result = answer.to_json()
        if asked.stream:
            return StreamingResponse(
                stream_chunks(completion_id, created, model, content, result, usage), media_type="text/event-stream"
            )
        completion = ChatCompletion(
            id=completion_id,
            created=created,
            model=model,
            choices=[Choice(message=AssistantMessage(content=content))],
            corpus_assistant=result,
            usage=usage,
        )
        return completion.model_dump(exclude_none=True)

    return router


def stream_chunks(completion_id: str, created: int, model: str, content: str, result: dict, usage: dict | None) -> Iterator[str]:
    """Server-sent events in the OpenAI chunk format: the role, the content in word groups, the result, [DONE]."""

    def event(delta: dict, finish: str | None = None, **extra) -> str:
        chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    words = content.split(" ")
    for first in range(0, len(words), STREAM_WORDS):
        piece = " ".join(words[first : first + STREAM_WORDS])
        yield event({"content": piece if first == 0 else " " + piece})
    yield event({}, "stop", corpus_assistant=result, **({"usage": usage} if usage else {}))
    yield "data: [DONE]\n\n"


def token_usage(assistant: Assistant, mode: str, messages: list[dict], completion: str) -> dict | None:
    """Word pieces of the reader's tokenizer, which reads the question (extractive); unknown for an LLM's, so omitted."""
    if mode != "extractive":
        return None
    prompt = sum(assistant.reader.count_tokens(m["content"]) for m in messages)
    completion_tokens = assistant.reader.count_tokens(completion)
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens, "total_tokens": prompt + completion_tokens}
