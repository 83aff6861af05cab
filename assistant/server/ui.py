"""The chat page (Gradio): chat on the left, the cited sources and a document viewer on the right,
a Documents tab to upload and delete files. Everything goes through the `Assistant` facade; this
module only presents.
"""

from __future__ import annotations

import html
import json
import re
import time
from datetime import datetime
from pathlib import Path

from assistant.answering.answer import REFUSAL, Answer, marked
from assistant.answering.model_files import ReaderError
from assistant.facade import Assistant
from assistant.index.database import IndexUnavailableError
from assistant.index.lock import IndexLockedError
from assistant.settings import SUPPORTED_SUFFIXES

EXAMPLES = [
    "Within what distance of the shore can French officers intercept boats?",
    "What is the largest police union in France?",
    "Which party does Marc de Fleurian belong to?",
    "Which tactic for stopping dinghies have the police unions blocked?",
]
VIEWER_WINDOW = 20_000  # characters shown either side of a cited span in the document viewer
SCROLL_TO_MARK = "() => setTimeout(() => document.querySelector('#viewer mark')?.scrollIntoView({block: 'center'}), 100)"
# A click on an answer's [n] opens that source in the viewer, as choosing it below the cards does.
CITATION_LINKS_JS = """
() => document.addEventListener("click", (event) => {
  const link = event.target.closest('a[href^="#source-"]');
  if (!link) return;
  event.preventDefault();
  const n = link.getAttribute("href").slice("#source-".length);
  const option = [...document.querySelectorAll("#source-choice label")].find((l) => l.textContent.trim().startsWith(`[${n}]`));
  if (option) option.click();
  document.getElementById(`source-${n}`)?.scrollIntoView({block: "nearest"});
}, true)
"""
CSS = """
#viewer .doc {max-height: 460px; overflow-y: auto; white-space: pre-wrap; line-height: 1.5; padding: 0.5em;
              border: 1px solid var(--border-color-primary); border-radius: 6px}
#viewer mark {background: #ffe066; padding: 0 1px}
.source-card {border-left: 3px solid var(--color-accent); padding: 0.2em 0.6em; margin: 0.4em 0}
.source-card.unsupported {border-left-color: #d9480f}
.badge {font-size: 0.9em; padding: 0.1em 0.5em; border-radius: 4px}
.badge.answered {background: #d3f9d8} .badge.not_stated {background: #fff3bf} .badge.not_found {background: #ffe3e3}
"""


def text_of(content) -> str:
    """Gradio may hand a message's content as a string or as a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content or "")


def plain_turns(history: list[dict] | None) -> list[dict]:
    return [{"role": turn["role"], "content": text_of(turn["content"])} for turn in history or []]


BADGES = {
    "answered": "✅ **Answered**",
    "not_stated": "⚠️ **Not stated directly**",
    "not_found": "⛔ **Not in the documents**",
}


def badge(answer: Answer) -> str:
    confidence = "" if answer.confidence is None else f" · confidence {answer.confidence:.2f}"
    return f'<span class="badge {answer.outcome}">{BADGES.get(answer.outcome, answer.outcome)}{confidence}</span>'


def as_markdown(answer: Answer, show_scores: bool = False) -> str:
    """The chat message: an outcome badge, then the answer with each [n] linking to its source card, or the refusal."""
    notice = f"\n\n*ℹ {answer.notice}*" if answer.notice else ""
    if answer.outcome == "not_found":
        return f"{badge(answer)}\n\n{REFUSAL} The closest passages are listed beside the chat as related reading.{notice}"
    text = re.sub(r"\[(\d+)\]", r"[[\1]](#source-\1)", marked(answer))
    notes = []
    for sentence in answer.sentences:
        if sentence.verdict not in ("supported", "quoted"):
            why = "cites no source" if sentence.verdict == "uncited" else f"not supported by its source ({sentence.support:.2f})"
            notes.append(f"⚠ {why}: {sentence.text[:100]}")
    if show_scores:
        notes.append(f"term evidence {answer.evidence:.2f}")
    return f"{badge(answer)}\n\n" + text + ("\n\n" + "\n\n".join(f"*{n}*" for n in notes) if notes else "") + notice


def _shown(answer: dict) -> tuple[str, list[dict]]:
    """Which list the cards show: the cited sentences, or (a refusal) the related passages."""
    return ("cited", answer["citations"]) if answer["citations"] else ("related", answer["related"])


def source_cards(answer: dict | None, show_scores: bool = False) -> str:
    """The cited sources (or, for a refusal, the related passages) as HTML cards with anchors."""
    if not answer:
        return "<p><em>Sources of the latest answer appear here.</em></p>"
    kind, items = _shown(answer)
    related = kind == "related"
    head = {
        "not_found": "<p><strong>Related passages</strong> (nothing in the documents answers the question)</p>",
        "not_stated": "<p><strong>Closest passages</strong> (they do not state the answer directly)</p>",
    }.get(answer.get("outcome", ""), "")
    cards = []
    for c in items:
        score = f" · support {c['support']:.2f}" if show_scores and not related else ""
        css = "source-card" + (" unsupported" if not related and c["support"] < 0.8 else "")
        cards.append(
            f'<div class="{css}" id="source-{c["n"]}"><strong>[{c["n"]}] {html.escape(c["title"])}</strong><br>'
            f"<code>{html.escape(Path(c['path']).name)}</code> · characters {c['start']}–{c['end']}{score}"
            f"<blockquote>{html.escape(c['quote'])}</blockquote></div>"
        )
    return head + "".join(cards)


def source_choices(answer: dict | None) -> list[tuple[str, str]]:
    if not answer:
        return []
    kind, items = _shown(answer)
    return [(f"[{c['n']}] {c['title'][:60]}", f"{kind}:{c['n']}") for c in items]


def viewer_html(assistant: Assistant, answer: dict | None, choice: str | None) -> str:
    """The chosen source's document, its cited characters highlighted; only indexed documents are shown."""
    if not answer or not choice:
        return ""
    kind, n = choice.split(":")
    items = answer["related"] if kind == "related" else answer["citations"]
    citation = next((c for c in items if str(c["n"]) == n), None)
    found = assistant.document(citation["doc_id"]) if citation else None
    if found is None:
        return "<p>This document is no longer in the index.</p>"
    record, text = found
    start, end = citation["start"], citation["end"]
    lo, hi = max(0, start - VIEWER_WINDOW), min(len(text), end + VIEWER_WINDOW)
    before = ("…" if lo else "") + html.escape(text[lo:start])
    after = html.escape(text[end:hi]) + ("…" if hi < len(text) else "")
    return (
        f"<p><strong>{html.escape(record.title)}</strong><br><code>{html.escape(record.path)}</code> · "
        f"characters {start}–{end} of {len(text)}</p>"
        f'<div class="doc">{before}<mark>{html.escape(text[start:end])}</mark>{after}</div>'
    )


def documents_table(assistant: Assistant) -> list[list]:
    return [
        [d.title, Path(d.path).name, d.n_chunks, datetime.fromtimestamp(d.indexed_at).strftime("%Y-%m-%d %H:%M")]
        for d in assistant.documents()
    ]


def status_markdown(assistant: Assistant) -> str:
    s = assistant.status()
    return f"**{s['documents']}** documents · **{s['chunks']}** chunks · model `{s['model']}` · index `{s['index']}`"


def build_app(assistant: Assistant):
    import gradio as gr

    answer_modes = assistant.answer_modes

    def document_choices() -> list[tuple[str, str]]:
        return [(f"{d.title[:60]} ({Path(d.path).name})", d.doc_id) for d in assistant.documents()]

    def respond(message: str, history: list[dict], top_k: int, show_scores: bool, mode: str):
        message = (message or "").strip()
        if not message:
            yield history, "", gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        answer = None
        try:
            for piece in assistant.ask_stream(message, plain_turns(history[:-2]), int(top_k), mode):
                if isinstance(piece, str):  # a generative answer as the LLM writes it (verified below)
                    history[-1]["content"] += piece
                    yield history, "", gr.skip(), gr.skip(), gr.skip(), gr.skip()
                else:
                    answer = piece
        except (ValueError, ReaderError, IndexUnavailableError) as exc:  # too long, a reader file missing, a server down: say why
            history[-1]["content"] = f"✘ {exc}"
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
            viewer_html(assistant, payload, first),
        )

    def upload(files: list[str] | None, progress=gr.Progress()):  # noqa: B008 (how Gradio asks for a progress bar)
        from assistant.ingest.uploads import UploadError

        messages = []
        for i, file in enumerate(files or []):
            name = Path(file).name
            progress((i, len(files)), desc=f"Indexing {name}")
            try:
                report = assistant.upload(name, Path(file).read_bytes())
                messages.append(f"✔ {name}: indexed, {report.chunks_embedded} chunks")
            except (UploadError, IndexUnavailableError) as exc:
                messages.append(f"✘ {exc}")
        return (
            "\n\n".join(messages) or "No file chosen.",
            documents_table(assistant),
            status_markdown(assistant),
            gr.update(choices=document_choices(), value=None),
        )

    def delete(doc_id: str | None):
        try:
            path = assistant.delete(doc_id) if doc_id else None
            message = f"Deleted {Path(path).name} from the index and the corpus." if path else "Choose an indexed document."
        except (IndexLockedError, IndexUnavailableError) as exc:
            message = f"✘ Nothing deleted: {exc}"
        return message, documents_table(assistant), status_markdown(assistant), gr.update(choices=document_choices(), value=None)

    # The API returns JSON text: gradio_client would take any object with a "path" key for a file to fetch.
    def ask(question: str, history: list[dict] | None = None, top_k: int = 0, mode: str = "") -> str:
        """The same JSON as `assistant ask --json`."""
        answer = assistant.ask(question, plain_turns(history), top_k or None, mode or None)
        return json.dumps(answer.to_json(), ensure_ascii=False)

    def documents() -> str:
        """The indexed documents, as JSON."""
        rows = [{"doc_id": d.doc_id, "title": d.title, "path": d.path, "chunks": d.n_chunks} for d in assistant.documents()]
        return json.dumps(rows, ensure_ascii=False)

    def status() -> str:
        """Documents, chunks, model and index location, as JSON."""
        return json.dumps(assistant.status())

    with gr.Blocks(title="Corpus assistant", analytics_enabled=False) as app:
        last_answer = gr.State(None)
        gr.Markdown("# Corpus assistant\nAnswers come only from the indexed documents; every sentence cites its passage.")
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Conversation", height=480, elem_id="chat")
                question = gr.Textbox(placeholder="Ask about the documents…", show_label=False, elem_id="question")
                with gr.Row():
                    send = gr.Button("Ask", variant="primary", elem_id="ask")
                    clear = gr.Button("Clear conversation", elem_id="clear")
                gr.Examples(EXAMPLES, inputs=question, label="Examples")
                with gr.Accordion("Settings", open=False):
                    top_k = gr.Slider(1, 20, value=assistant.settings.top_k, step=1, label="Passages retrieved (top-k)")
                    show_scores = gr.Checkbox(label="Show support and evidence scores")
                    mode = gr.Radio(
                        list(answer_modes), value=answer_modes[-1], label="Answer mode", visible=len(answer_modes) > 1
                    )
            with gr.Column(scale=2):
                cards = gr.HTML(source_cards(None), elem_id="sources")
                chosen = gr.Radio([], label="Open a source", elem_id="source-choice")
                viewer = gr.HTML(elem_id="viewer")
        with gr.Tab("Documents"):
            status_md = gr.Markdown()
            table = gr.Dataframe(headers=["Title", "File", "Chunks", "Indexed"], interactive=False, elem_id="documents")
            files = gr.File(file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), label="Add documents", elem_id="upload")
            upload_button = gr.Button("Upload and index", elem_id="upload-button")
            upload_message = gr.Markdown(elem_id="upload-message")
            doomed = gr.Dropdown(label="Document to delete", choices=[], elem_id="delete-choice")
            delete_button = gr.Button("Delete document", variant="stop", elem_id="delete-button")
            delete_message = gr.Markdown(elem_id="delete-message")

        chat_outputs = [chatbot, question, last_answer, cards, chosen, viewer]
        for trigger in (question.submit, send.click):
            trigger(respond, [question, chatbot, top_k, show_scores, mode], chat_outputs, api_visibility="private").then(
                None, js=SCROLL_TO_MARK
            )
        chosen.input(lambda answer, choice: viewer_html(assistant, answer, choice), [last_answer, chosen], viewer).then(
            None, js=SCROLL_TO_MARK
        )
        clear.click(lambda: ([], None, source_cards(None), gr.update(choices=[], value=None), ""), None,
                    [chatbot, last_answer, cards, chosen, viewer], api_visibility="private")  # fmt: skip
        upload_button.click(upload, files, [upload_message, table, status_md, doomed], api_name="upload").then(
            lambda: None, None, files
        )
        delete_button.click(delete, doomed, [delete_message, table, status_md, doomed], api_name="delete")
        app.load(lambda: (documents_table(assistant), status_markdown(assistant), gr.update(choices=document_choices())),
                 None, [table, status_md, doomed], api_visibility="private")  # fmt: skip
        gr.api(ask, api_name="ask")
        gr.api(documents, api_name="documents")
        gr.api(status, api_name="status")
    return app
