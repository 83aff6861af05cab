"""The browser chat: `python app.py` indexes corpus/ when needed, then serves on 127.0.0.1."""

from __future__ import annotations

import argparse

from assistant.answer import Answer
from assistant.service import Assistant
from assistant.settings import Settings

EXAMPLES = [
    "Within what distance of the shore can French officers intercept boats?",
    "What is the largest police union in France?",
    "How much money has the Government paid France?",
]


def text_of(content) -> str:
    """Gradio may hand a message's content as a string or as a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content or "")


def as_markdown(answer: Answer) -> str:
    if answer.abstained:
        lines = [f"**{answer.answer}**"]
        if answer.related:
            lines += ["", "Related passages:"]
            lines += [f"- *{c.title}* (`{c.path}`, chars {c.start}–{c.end}): {c.quote[:240]}…" for c in answer.related]
        return "\n".join(lines)
    lines = [answer.answer, "", "**Sources**"]
    for c in answer.citations:
        lines.append(f"{c.n}. *{c.title}* — `{c.path}`, chars {c.start}–{c.end}, support {c.support:.2f}\n   > {c.quote}")
    return "\n".join(lines)


def build_app(assistant: Assistant):
    import gradio as gr

    def ask(message: str, history: list[dict]) -> str:
        turns = [{"role": turn["role"], "content": text_of(turn["content"])} for turn in history or []]
        return as_markdown(assistant.ask(message, turns))

    return gr.ChatInterface(
        ask,
        title="Corpus assistant",
        description="Answers come only from the indexed documents; every sentence cites the passage it was taken from.",
        examples=EXAMPLES,
        api_name="ask",
        analytics_enabled=False,
        flagging_mode="never",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the chat UI.")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 7860)")
    parser.add_argument("--no-ingest", action="store_true", help="serve the index as it is")
    args = parser.parse_args()
    settings = Settings(**{k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None})
    assistant = Assistant(settings)
    if not args.no_ingest:
        # Incremental: embeds only what is new or changed since the last run, so start-up stays quick.
        print(assistant.ingest().summary())
    build_app(assistant).launch(server_name=settings.host, server_port=settings.port, share=False)


if __name__ == "__main__":
    main()
