"""The OpenAI chat-completions request and response bodies that `/v1` accepts and returns (pydantic)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "text"
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls ...: accepted, not used

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        """The content as text: a string, or the text parts of a list of parts."""
        if isinstance(self.content, list):
            return " ".join(part.text for part in self.content if part.type == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens ...: accepted, not used

    model: str | None = None
    messages: list[ChatMessage] = []
    stream: StrictBool = False
    # Extra fields of this API: ask only these documents (ids, paths or file names), and whether the reply's content
    # ends with a plain-text Sources block (off for clients that render `corpus_assistant` themselves).
    documents: list[str] | None = None
    sources: StrictBool = True


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    corpus_assistant: dict[str, Any]  # the whole checked result, as `assistant ask --json`
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0  # the models are this assistant's answer modes, not files with a date
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
