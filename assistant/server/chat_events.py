"""What the chat page does when it is used: a question answered (streamed), files uploaded or deleted, and the
page's API routes (`/ask`, `/documents`, `/status`). The layout and its wiring are in ``ui.build_app``; every
call goes through the `Assistant` facade. Imported only when the page is built (Gradio is a heavy import)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import gradio as gr

from assistant.errors import AssistantError
from assistant.facade import Assistant
from assistant.server.render import (
    as_markdown,
    as_text,
    code,
    documents_table,
    plain_turns,
    source_cards,
    source_choices,
    status_markdown,
    viewer_html,
)


class ChatEvents:
    def __init__(self, assistant: Assistant):
        self.assistant = assistant

    def document_choices(self) -> list[tuple[str, str]]:
        return [(f"{d.title[:60]} ({Path(d.path).name})", d.doc_id) for d in self.assistant.documents()]

    def respond(self, message: str, history: list[dict], top_k: int, show_scores: bool, mode: str):
        message = (message or "").strip()
        if not message:
            yield history, "", gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        answer, written = None, ""
        try:
            for piece in self.assistant.ask_stream(message, plain_turns(history[:-2]), int(top_k), mode):
                if isinstance(piece, str):  # a generative answer as the LLM writes it (verified below), shown as text
                    written += piece
                    history[-1]["content"] = as_text(written)
                    yield history, "", gr.skip(), gr.skip(), gr.skip(), gr.skip()
                else:
                    answer = piece
        except (ValueError, AssistantError) as exc:  # too long, a reader file missing, a server down: say why
            history[-1]["content"] = f"✘ {as_text(str(exc))}"
            yield history, "", gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        payload = answer.to_json()
        text = as_markdown(answer, show_scores)
        if answer.mode == "extractive":  # computed at once: stream it in, a few words at a time
            words = text.split(" ")
            for cut in range(8, len(words), 8):
                history[-1]["content"] = " ".join(words[:cut])
                yield history, "", gr.skip(), gr.skip(), gr.skip(), gr.skip()
                time.sleep(0.02)
        history[-1]["content"] = text
        choices = source_choices(payload)
        first = choices[0][1] if choices else None
        yield (
            history,
            "",
            payload,
            source_cards(payload, show_scores),
            gr.update(choices=choices, value=first),
            viewer_html(self.assistant, payload, first),
        )

    def upload(self, files: list[str] | None, progress=gr.Progress()):  # noqa: B008 (how Gradio asks for a progress bar)
        messages = []
        for i, file in enumerate(files or []):
            name = Path(file).name
            progress((i, len(files)), desc=f"Indexing {name}")
            try:
                report = self.assistant.upload(name, Path(file).read_bytes())
                messages.append(f"✔ {code(name)}: indexed, {report.chunks_embedded} chunks")
            except AssistantError as exc:  # refused, or the index unreachable
                messages.append(f"✘ {as_text(str(exc))}")
        return (
            "\n\n".join(messages) or "No file chosen.",
            documents_table(self.assistant),
            status_markdown(self.assistant),
            gr.update(choices=self.document_choices(), value=None),
        )

    def delete(self, doc_id: str | None, remove_file: bool = False):
        """Remove a document from the index; its file too only when asked (the page asks for a confirmation first)."""
        try:
            path = self.assistant.delete(doc_id, remove_file=bool(remove_file)) if doc_id else None
            where = "the index and the corpus folder" if remove_file else "the index (the file stays on disk)"
            message = f"Deleted {code(Path(path).name)} from {where}." if path else "Choose an indexed document."
        except AssistantError as exc:
            message = f"✘ Nothing deleted: {as_text(str(exc))}"
        return (
            message,
            documents_table(self.assistant),
            status_markdown(self.assistant),
            gr.update(choices=self.document_choices(), value=None),
        )

    # The API returns JSON text: gradio_client would take any object with a "path" key for a file to fetch.
    def ask(self, question: str, history: list[dict] | None = None, top_k: int = 0, mode: str = "") -> str:
        """The same JSON as `assistant ask --json`."""
        answer = self.assistant.ask(question, plain_turns(history), top_k or None, mode or None)
        return json.dumps(answer.to_json(), ensure_ascii=False)

    def documents(self) -> str:
        """The indexed documents, as JSON."""
        rows = [{"doc_id": d.doc_id, "title": d.title, "path": d.path, "chunks": d.n_chunks} for d in self.assistant.documents()]
        return json.dumps(rows, ensure_ascii=False)

    def status(self) -> str:
        """Documents, chunks, model and index location, as JSON."""
        return json.dumps(self.assistant.status())
