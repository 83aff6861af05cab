"""What the chat page does when it is used: a question answered (streamed), files uploaded or deleted, and the
page's API routes (`/ask`, `/documents`, `/status`). The layout and its wiring are in ``ui.build_app``; every
call goes through the `Assistant` facade. Imported only when the page is built (Gradio is a heavy import)."""

from __future__ import annotations

import json
import re
import tempfile
import time
import uuid
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
    text_of,
    viewer_html,
)

EMPTY_CONVERSATIONS: dict = {"current": None, "items": {}}
KEPT_ANSWER_KEYS = ("outcome", "confidence", "citations", "related", "answer_span")  # what the side panel needs


class ChatEvents:
    def __init__(self, assistant: Assistant):
        self.assistant = assistant

    def document_choices(self) -> list[tuple[str, str]]:
        return [(f"{d.title[:60]} ({Path(d.path).name})", d.doc_id) for d in self.assistant.documents()]

    def _panel(self, payload: dict | None) -> tuple:
        """(shown answer, its source cards, its source choices, the viewer on its first citation)."""
        choices = source_choices(payload)
        first = choices[0][1] if choices and choices[0][1].startswith("cited") else None  # related: not opened unasked
        return (
            payload, source_cards(payload), gr.update(choices=choices, value=first),
            viewer_html(self.assistant, payload, first) if first else "",
        )  # fmt: skip

    def respond(self, message: str, history: list[dict], answers: list, top_k: int, show_scores: bool, mode: str, only):
        message = (message or "").strip()
        answers = list(answers or [])
        if not message:
            yield history, "", answers, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        answer, written = None, ""
        try:
            for piece in self.assistant.ask_stream(message, plain_turns(history[:-2]), int(top_k), mode, only or None):
                if isinstance(piece, str):  # a generative answer as the LLM writes it (verified below), shown as text
                    written += piece
                    history[-1]["content"] = as_text(written)
                    yield history, "", answers, gr.skip(), gr.skip(), gr.skip(), gr.skip()
                else:
                    answer = piece
        except (ValueError, AssistantError) as exc:  # too long, a reader file missing, a server down: say why
            history[-1]["content"] = f"✘ {as_text(str(exc))}"
            answers.append(None)
            yield history, "", answers, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        payload = {key: value for key, value in answer.to_json().items() if key in KEPT_ANSWER_KEYS}
        answers.append(payload)
        text = as_markdown(answer, show_scores, turn=len(answers) - 1)
        if answer.mode == "extractive":  # computed at once: stream it in, a few words at a time
            words = text.split(" ")
            for cut in range(8, len(words), 8):
                history[-1]["content"] = " ".join(words[:cut])
                yield history, "", answers, gr.skip(), gr.skip(), gr.skip(), gr.skip()
                time.sleep(0.02)
        history[-1]["content"] = text
        yield history, "", answers, *self._panel(payload)

    def open_citation(self, answers: list, target: str):
        """[n] clicked in answer `turn`: that answer's source n in the cards and the viewer."""
        turn, n, *_ = (target or "").split(":") + ["", ""]
        payload = answers[int(turn)] if turn.isdigit() and int(turn) < len(answers or []) else None
        if not payload or not n.isdigit():
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        kind = "cited" if payload["citations"] else "related"
        choice = f"{kind}:{n}"
        return (
            payload,
            source_cards(payload),
            gr.update(choices=source_choices(payload), value=choice),
            viewer_html(self.assistant, payload, choice),
        )

    def open_choice(self, payload: dict | None, choice: str | None) -> str:
        return viewer_html(self.assistant, payload, choice)

    # Conversations, kept in the browser (gr.BrowserState): each is {"title", "messages", "answers", "updated"}.
    def save(self, conversations: dict, history: list[dict], answers: list):
        conversations = {"current": conversations.get("current"), "items": dict(conversations.get("items") or {})}
        current = conversations["current"] or uuid.uuid4().hex[:12]
        kept = conversations["items"].get(current, {})
        first_question = next((text_of(t["content"]) for t in history if t["role"] == "user"), "New conversation")
        conversations["items"][current] = {
            "title": kept.get("title") or first_question[:60], "messages": history, "answers": answers, "updated": time.time()
        }  # fmt: skip
        conversations["current"] = current
        return conversations, self._conversation_list(conversations), conversations["items"][current]["title"]

    @staticmethod
    def _conversation_list(conversations: dict):
        items = sorted(conversations["items"].items(), key=lambda item: -item[1]["updated"])
        return gr.update(choices=[(item["title"], key) for key, item in items], value=conversations["current"])

    def _show(self, conversations: dict, key: str | None) -> tuple:
        """Every output of a conversation switch: the chat, its answers, the state, the list, the title, the panel."""
        item = conversations["items"].get(key) if key else None
        conversations = {**conversations, "current": key if item else None}
        messages, answers = (item["messages"], item["answers"]) if item else ([], [])
        last = next((a for a in reversed(answers) if a), None)
        return (
            messages, answers, conversations, self._conversation_list(conversations), item["title"] if item else "",
            *self._panel(last),
        )  # fmt: skip

    def new_conversation(self, conversations: dict):
        return self._show(conversations, None)

    def switch_conversation(self, conversations: dict, key: str):
        return self._show(conversations, key)

    def rename_conversation(self, conversations: dict, title: str):
        key = conversations.get("current")
        if not key or key not in conversations["items"] or not (title or "").strip():
            return gr.skip(), gr.skip()
        items = {**conversations["items"], key: {**conversations["items"][key], "title": title.strip()[:80]}}
        conversations = {**conversations, "items": items}
        return conversations, self._conversation_list(conversations)

    def delete_conversation(self, conversations: dict):
        items = {k: v for k, v in conversations["items"].items() if k != conversations.get("current")}
        return self._show({"current": None, "items": items}, None)

    def export_markdown(self, history: list[dict], answers: list, title: str):
        """The conversation as Markdown, each answer followed by its sources (file, characters, quote)."""
        lines = [f"# {title or 'Conversation'}", ""]
        turn = 0
        for message in history:
            if message["role"] == "user":
                lines += [f"**Question:** {text_of(message['content'])}", ""]
                continue
            lines += [re.sub(r"<[^>]+>", "", text_of(message["content"])).replace("(#source-", "(#"), ""]
            payload = answers[turn] if turn < len(answers) else None
            turn += 1
            for c in (payload or {}).get("citations", []):
                lines.append(f"- [{c['n']}] {c['title']} — {c['path']}, characters {c['start']}–{c['end']}: “{c['quote']}”")
            lines.append("")
        folder = Path(tempfile.mkdtemp(prefix="conversation-"))
        path = folder / (re.sub(r"[^\w-]+", "-", title or "conversation").strip("-")[:60] + ".md")
        path.write_text("\n".join(lines), encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    def page_loaded(self, conversations: dict):
        documents = self._documents_outputs()
        conversations = conversations or EMPTY_CONVERSATIONS
        return (*documents, *self._show(conversations, conversations.get("current")))

    def _documents_outputs(self) -> tuple:
        choices = self.document_choices()
        return (
            documents_table(self.assistant), status_markdown(self.assistant), gr.update(choices=choices, value=None),
            gr.update(choices=choices),
        )  # fmt: skip

    def upload(self, files: list[str] | None, progress=gr.Progress()):  # noqa: B008 (how Gradio asks for a progress bar)
        messages = []
        for i, file in enumerate(files or []):
            name = Path(file).name
            progress((i, len(files)), desc=f"Indexing {name}")
            try:
                report = self.assistant.upload(name, Path(file).read_bytes())
                chunks = report.chunks_embedded + report.chunks_reused
                messages.append(f"✔ {code(name)}: indexed, {chunks} chunk{'' if chunks == 1 else 's'}")
            except AssistantError as exc:  # refused, or the index unreachable
                messages.append(f"✘ {as_text(str(exc))}")
        return ("\n\n".join(messages) or "No file chosen.", *self._documents_outputs())

    def delete(self, doc_id: str | None, remove_file: bool = False, shown: dict | None = None):
        """Remove a document from the index; its file too only when asked (the page asks for a confirmation first).
        The viewer forgets a deleted document."""
        try:
            path = self.assistant.delete(doc_id, remove_file=bool(remove_file)) if doc_id else None
            where = "the index and the corpus folder" if remove_file else "the index (the file stays on disk)"
            message = f"Deleted {code(Path(path).name)} from {where}." if path else "Choose an indexed document."
        except AssistantError as exc:
            message = f"✘ Nothing deleted: {as_text(str(exc))}"
        return (message, *self._documents_outputs(), "")

    # The API returns JSON text: gradio_client would take any object with a "path" key for a file to fetch.
    def ask(
        self, question: str, history: list[dict] | None = None, top_k: int = 0, mode: str = "", documents: list[str] | None = None
    ) -> str:
        """The same JSON as `assistant ask --json`; ``documents`` (ids, paths or file names): ask only those."""
        answer = self.assistant.ask(question, plain_turns(history), top_k or None, mode or None, documents or None)
        return json.dumps(answer.to_json(), ensure_ascii=False)

    def documents(self) -> str:
        """The indexed documents, as JSON."""
        rows = [{"doc_id": d.doc_id, "title": d.title, "path": d.path, "chunks": d.n_chunks} for d in self.assistant.documents()]
        return json.dumps(rows, ensure_ascii=False)

    def status(self) -> str:
        """Documents, chunks, model and index location, as JSON."""
        return json.dumps(self.assistant.status())
