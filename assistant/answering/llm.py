"""LLM backends for generative answers, through llama-index's integrations; chosen by settings.

- ``openai``: any OpenAI-compatible endpoint (llama.cpp server, vLLM, LM Studio, OpenAI itself);
  the key comes from the environment variable named by ``llm_api_key_env``.
- ``ollama``: an Ollama server.
- ``llama-cpp``: a GGUF model in this process (the optional extra ``pip install -e '.[gguf]'``).

Nothing is contacted unless an LLM is configured: the default answerer needs none.
"""

from __future__ import annotations

import os

from assistant.errors import AssistantError
from assistant.settings import LLM_BACKENDS, Settings


class LLMError(AssistantError):
    """The LLM could not be reached or gave no usable answer; the message says which and why."""

    exit_code, http_status, code = 2, 502, "llm_error"


def make_llm(settings: Settings):
    kind = settings.llm
    if kind == "openai":
        if not settings.llm_url:
            raise LLMError("--llm openai needs --llm-url, e.g. http://127.0.0.1:8080/v1")
        from llama_index.llms.openai_like import OpenAILike

        return OpenAILike(
            model=settings.llm_model or "local-model",
            api_base=settings.llm_url,
            api_key=os.environ.get(settings.llm_api_key_env) or "not-needed",
            is_chat_model=True,
            context_window=settings.llm_context_window,
            max_tokens=settings.llm_max_tokens,
            temperature=0.0,
            timeout=settings.llm_timeout,
            max_retries=0,
        )
    if kind == "ollama":
        if not settings.llm_model:
            raise LLMError("--llm ollama needs --llm-model, e.g. llama3.2")
        from llama_index.llms.ollama import Ollama

        return Ollama(
            model=settings.llm_model,
            base_url=settings.llm_url or "http://127.0.0.1:11434",
            request_timeout=settings.llm_timeout,
            temperature=0.0,
            context_window=settings.llm_context_window,
        )
    if kind == "llama-cpp":
        if not settings.llm_model:
            raise LLMError("--llm llama-cpp needs --llm-model PATH/TO/MODEL.gguf")
        try:
            from llama_index.llms.llama_cpp import LlamaCPP
        except ImportError as exc:
            raise LLMError("--llm llama-cpp needs the optional extra: pip install -e '.[gguf]'") from exc
        return LlamaCPP(
            model_path=settings.llm_model,
            temperature=0.0,
            max_new_tokens=settings.llm_max_tokens,
            context_window=settings.llm_context_window,
            verbose=False,
        )
    raise LLMError(f"unknown LLM backend {kind!r}; choose one of {', '.join(LLM_BACKENDS[1:])}")


def describe(settings: Settings) -> str:
    where = settings.llm_url or settings.llm_model or ""
    return f"{settings.llm} {where}".strip()
