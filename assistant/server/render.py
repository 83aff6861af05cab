"""How an answer and the index are shown on the chat page: the badge, the answer's Markdown with its [n]
links, the source cards, the document viewer with the cited characters marked, the documents table."""

from __future__ import annotations

import html
import re
from datetime import datetime
from pathlib import Path

from assistant.answering.answer import REFUSAL, Answer, marked
from assistant.facade import Assistant

VIEWER_WINDOW = 20_000  # characters shown either side of a cited span in the document viewer


def text_of(content) -> str:
    """Gradio may hand a message's content as a string or as a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content or "")


def plain_turns(history: list[dict] | None) -> list[dict]:
    return [{"role": turn["role"], "content": text_of(turn["content"])} for turn in history or []]


# Icons every font has (no emoji font is needed): the badge's colour comes from the theme (ui.CSS).
BADGES = {
    "answered": "✓ **Answered**",
    "uncertain": "? **Possible answer, not confirmed**",
    "not_stated": "! **Not stated directly**",
    "not_found": "✕ **Not in the documents**",
    "not_read": "✕ **Not read: the models read English only**",
}


def badge(answer: Answer) -> str:
    kind = "not_read" if (answer.notice or "").startswith("language:") else answer.outcome
    confidence = "" if answer.confidence is None or kind == "not_read" else f" · confidence {answer.confidence:.2f}"
    return f'<span class="badge {answer.outcome}">{BADGES.get(kind, kind)}{confidence}</span>'


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|~])")


def as_text(text: str) -> str:
    """Document (or LLM) text as Markdown that renders as that text: no HTML (a form, an overlay, an image
    fetched from elsewhere), no Markdown (links, images, emphasis), no address turned into a link; only the
    characters themselves. Lines are joined with <br>, so nothing starts a list or a heading."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    escaped = escaped.replace("://", ":&#47;&#47;").replace("www.", "www&#46;")  # no autolinks
    return escaped.replace("\n", "<br>")


def code(name: str) -> str:
    """A file name in a Markdown message, as literal text (a code span shows its characters as they are)."""
    return "`" + name.replace("`", "'").replace("\n", " ") + "`"


def as_markdown(answer: Answer, show_scores: bool = False, turn: int = 0) -> str:
    """The chat message: an outcome badge, then the answer with each [n] linking to its source card, or the refusal.
    Every word of the answer is the documents' (or the LLM's): shown as text (as_text), only the marks are ours.
    ``turn`` numbers the answer in its conversation: its links open its own sources, however many answers follow."""
    notice = f"\n\n*{as_text(answer.notice)}*" if answer.notice and not answer.notice.startswith("language:") else ""
    if answer.outcome == "not_found":
        if answer.notice or not answer.related:  # not read (another language), or nothing related at all
            return f"{badge(answer)}\n\n{as_text(answer.answer)}{notice}"
        return f"{badge(answer)}\n\n{REFUSAL} Related passages (not an answer) are listed beside the chat.{notice}"
    opening, closing = "\ue000", "\ue001"  # the answer's words, kept apart until the text is escaped
    text = as_text(marked(answer, opening, closing)).replace(opening, "**").replace(closing, "**")
    text = re.sub(r"\\\[(\d+)\\\]", rf"[[\1]](#source-{turn}-\1)", text)
    notes = []
    for sentence in answer.sentences:
        if sentence.verdict not in ("supported", "quoted"):
            why = "cites no source" if sentence.verdict == "uncited" else f"not supported by its source ({sentence.support:.2f})"
            notes.append(f"! {why}: {as_text(sentence.text[:100])}")
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
        "not_stated": "<p><strong>Closest passages</strong> (they do not state the answer directly)</p>",
        "uncertain": "<p><strong>Candidates</strong> (the first may hold the answer, marked; not confirmed)</p>",
    }.get(answer.get("outcome", ""), "")
    cards = []
    for c in items:
        score = f" · support {c['support']:.2f}" if show_scores and not related else ""
        css = "source-card" + (" unsupported" if not related and c["support"] < 0.8 else "")
        cards.append(
            f'<div class="{css}" id="source-{c["n"]}"><strong>[{c["n"]}] {html.escape(c["title"])}</strong><br>'
            f"<code>{html.escape(Path(c['path']).name)}</code> · characters {c['start']}–{c['end']}{score}"
            f"<blockquote>{_quote_html(c, answer.get('answer_span'))}</blockquote></div>"
        )
    if related:  # a refusal's reading, not its sources: folded away
        summary = f"Related passages ({len(cards)}): nothing here answers the question"
        return f"<details><summary>{summary}</summary>{''.join(cards)}</details>"
    return head + "".join(cards)


def _marked_html(text: str, offset: int, span: dict | None) -> str:
    """text (document characters from offset) escaped, the answer's words inside it in <strong class="span">."""
    if not span or not offset <= span["start"] < span["end"] <= offset + len(text):
        return html.escape(text)
    first, last = span["start"] - offset, span["end"] - offset
    middle = html.escape(text[first:last])
    return html.escape(text[:first]) + f'<strong class="span">{middle}</strong>' + html.escape(text[last:])


def _quote_html(citation: dict, span: dict | None) -> str:
    """A source card's quote, the answer's words marked in the citation the span belongs to."""
    mine = span if span and span.get("citation") == citation["n"] and span.get("doc_id") == citation.get("doc_id") else None
    return _marked_html(citation["quote"], citation["start"], mine)


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
    heading = f"<p><strong>{html.escape(record.title)}</strong><br><code>{html.escape(record.path)}</code> · "
    if text[start:end] != citation["quote"]:  # re-indexed with other text since (the same path, so the same doc id)
        return (
            heading + f"characters {start}–{end} then</p><p><em>This document has changed since this answer; the passage "
            f"it quoted is no longer there:</em></p><blockquote>{html.escape(citation['quote'])}</blockquote>"
        )
    lo, hi = max(0, start - VIEWER_WINDOW), min(len(text), end + VIEWER_WINDOW)
    before = ("…" if lo else "") + html.escape(text[lo:start])
    after = html.escape(text[end:hi]) + ("…" if hi < len(text) else "")
    # A cited passage is marked; a related one (a refusal's reading) only outlined: it is not an answer.
    tag = "mark" if kind == "cited" else 'span class="related"'
    quote = _quote_html(citation, answer.get("answer_span") if kind == "cited" else None)
    return (
        heading + f"characters {start}–{end} of {len(text)}</p>"
        f'<div class="doc">{before}<{tag}>{quote}</{tag.split()[0]}>{after}</div>'
    )


def documents_table(assistant: Assistant) -> list[list]:
    return [
        [d.title, Path(d.path).name, d.n_chunks, datetime.fromtimestamp(d.indexed_at).strftime("%Y-%m-%d %H:%M")]
        for d in assistant.documents()
    ]


def status_markdown(assistant: Assistant) -> str:
    s = assistant.status()
    return f"**{s['documents']}** documents · **{s['chunks']}** chunks · model `{s['model']}` · index `{s['index']}`"
