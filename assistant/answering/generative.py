"""Generate: answers written by an LLM from numbered sources, then checked sentence by sentence.

The LLM is asked to cite ``[n]`` after every sentence and to say plainly when the sources do not
answer. Whatever it writes is verified (``assistant.answering.verify.check_answer``): citation numbers that
name no source are removed, and each sentence gets a verdict and a support score. In strict mode
unsupported sentences are dropped. An answer with every sentence supported is ``answered``; one with
unsupported sentences (shown marked), or with none supported (not shown), is ``uncertain``, never a claim either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from assistant.answering.answer import REFUSAL, Answer, AnswerSentence, Citation, cite
from assistant.answering.llm import LLMError
from assistant.answering.verify import check_answer
from assistant.retrieval import RetrievedChunk

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources you are given. "
    "After every sentence, cite the sources it uses, like [1] or [1][2]. "
    f"If the sources do not answer the question, reply exactly: {REFUSAL} "
    "Do not use anything you know that the sources do not say. Be brief: at most three sentences."
)
REWRITE_PROMPT = (
    "Rewrite the last question of this conversation as one standalone question that can be understood "
    "without the conversation. Reply with the question only.\n\n{conversation}\nLast question: {question}"
)


def _messages(system: str, user: str):
    from llama_index.core.llms import ChatMessage

    return [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]


def sources_block(chunks: list[RetrievedChunk]) -> str:
    return "\n\n".join(f"[{n}] {c.record.title}\n{c.record.text}" for n, c in enumerate(chunks, start=1))


MODEL_UNCHECKED = (
    "The model's answer is not shown: no sentence of it is supported by the sources it cites. The closest passages are listed."
)
MODEL_FOUND_NONE = (
    "The model found no answer in the retrieved passages. That is not checked, so it is not a claim about the "
    "documents; the closest passages are listed."
)


class GenerativeAnswerer:
    def __init__(self, llm, encode: Callable[[list[str]], np.ndarray], strict: bool = False, describe: str = "LLM"):
        self.llm = llm
        self.encode = encode
        self.strict = strict
        self.describe = describe

    def rewrite(self, question: str, history: list[dict]) -> str:
        """A follow-up question made standalone with the conversation (the question itself if the LLM fails it)."""
        turns = "\n".join(f"{t['role']}: {t['content']}" for t in history[-6:] if t.get("content"))
        prompt = REWRITE_PROMPT.format(conversation=turns, question=question)
        try:
            text = self._call(lambda: self.llm.chat(_messages("You rewrite questions.", prompt)).message.content)
        except LLMError:
            return question
        text = (text or "").strip().strip('"').splitlines()[0] if (text or "").strip() else ""
        return text if 3 <= len(text) <= 400 else question

    def stream(self, question: str, chunks: list[RetrievedChunk]) -> Iterator[str | Answer]:
        """Text as the LLM writes it, then the verified Answer. Raises LLMError when the LLM fails."""
        user = f"Sources:\n\n{sources_block(chunks)}\n\nQuestion: {question}"
        pieces: list[str] = []
        stream = self._call(lambda: self.llm.stream_chat(_messages(SYSTEM_PROMPT, user)))
        try:
            for response in stream:
                delta = response.delta or ""
                pieces.append(delta)
                yield delta
        except Exception as exc:  # the connection can also fail mid-stream
            raise LLMError(f"{self.describe}: {type(exc).__name__}: {exc}") from exc
        text = "".join(pieces).strip()
        if not text:
            raise LLMError(f"{self.describe}: the model returned an empty answer")
        yield self.verify(question, text, chunks)

    def verify(self, question: str, generated: str, chunks: list[RetrievedChunk]) -> Answer:
        passages = {n: (c.record.document_text, c.record.start, c.record.end) for n, c in enumerate(chunks, start=1)}
        checked = check_answer(generated, passages, self.encode)
        refused_by_model = REFUSAL.lower().rstrip(".") in generated.lower()
        kept = [s for s in checked if s.verdict == "supported"] if self.strict else checked
        kept = [s for s in kept if REFUSAL.lower().rstrip(".") not in s.text.lower()]
        related = [_cite_passage(i, c, 0.0) for i, c in enumerate(chunks[:3], start=1)]
        if not any(s.verdict == "supported" for s in kept):
            # No answer text without evidence, and no claim of absence that nobody measured: the model's answer (or its
            # own "not in the sources") is not checked, so the outcome is uncertain and the closest passages are listed.
            text = MODEL_FOUND_NONE if refused_by_model else MODEL_UNCHECKED
            return Answer(question, text, True, [], [], related, 0.0, mode="generative", outcome="uncertain")

        renumber: dict[int, int] = {}
        for sentence in kept:
            for n in sentence.cites:
                renumber.setdefault(n, len(renumber) + 1)
        citations = []
        for source, n in renumber.items():
            best = max((s.support for s in kept if source in s.cites), default=0.0)
            citations.append(_cite_passage(n, chunks[source - 1], best))
        sentences = [AnswerSentence(s.text, [renumber[n] for n in s.cites], s.support, s.verdict) for s in kept]
        text = " ".join(s.text + "".join(f" [{n}]" for n in s.cites) for s in sentences)
        supported = [s.support for s in kept if s.verdict == "supported"]
        evidence = sum(supported) / len(kept) if kept else 0.0
        if any(s.verdict != "supported" for s in sentences):  # some of it is not checked: shown marked, never asserted
            return Answer(question, text, True, sentences, citations, [], evidence, mode="generative", outcome="uncertain")
        return Answer(question, text, False, sentences, citations, [], evidence, mode="generative", outcome="answered")

    def _call(self, request):
        try:
            return request()
        except LLMError:
            raise
        except Exception as exc:  # connection refused, timeout, HTTP error, malformed response
            raise LLMError(f"{self.describe}: {type(exc).__name__}: {exc}") from exc


def _cite_passage(n: int, chunk: RetrievedChunk, support: float) -> Citation:
    return cite(n, chunk.record, chunk.record.start, chunk.record.end, support)
