"""The chat page (Gradio): chat on the left, the cited sources and a document viewer on the right,
a Documents tab to upload and delete files; its layout and wiring. What each event does is in
``chat_events``, how answers are shown in ``render``. Everything goes through the `Assistant` facade.
"""

from __future__ import annotations

from assistant.facade import Assistant
from assistant.server.render import documents_table, source_cards, status_markdown, viewer_html
from assistant.settings import SUPPORTED_SUFFIXES

EXAMPLES = [
    "Within what distance of the shore can French officers intercept boats?",
    "What is the largest police union in France?",
    "Which party does Marc de Fleurian belong to?",
    "Which tactic for stopping dinghies have the police unions blocked?",
]
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
.badge.answered {background: #d3f9d8} .badge.uncertain {background: #e7f5ff} .badge.not_stated {background: #fff3bf}
.badge.not_found {background: #ffe3e3}
strong.span {background: #ffd43b; outline: 1px solid #f08c00}
"""


def build_app(assistant: Assistant):
    import gradio as gr

    from assistant.server.chat_events import ChatEvents

    answer_modes = assistant.answer_modes
    events = ChatEvents(assistant)
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
            remove_file = gr.Checkbox(label="Also delete the file from the corpus folder", value=False, elem_id="remove-file")
            delete_button = gr.Button("Delete document…", variant="stop", elem_id="delete-button")
            with gr.Row(visible=False) as confirm_row:
                confirm_button = gr.Button("Yes, delete it", variant="stop", elem_id="confirm-delete")
                cancel_button = gr.Button("Cancel", elem_id="cancel-delete")
            delete_message = gr.Markdown(elem_id="delete-message")

        chat_outputs = [chatbot, question, last_answer, cards, chosen, viewer]
        for trigger in (question.submit, send.click):
            trigger(events.respond, [question, chatbot, top_k, show_scores, mode], chat_outputs, api_visibility="private").then(
                None, js=SCROLL_TO_MARK
            )
        chosen.input(lambda answer, choice: viewer_html(assistant, answer, choice), [last_answer, chosen], viewer).then(
            None, js=SCROLL_TO_MARK
        )
        clear.click(lambda: ([], None, source_cards(None), gr.update(choices=[], value=None), ""), None,
                    [chatbot, last_answer, cards, chosen, viewer], api_visibility="private")  # fmt: skip
        upload_button.click(events.upload, files, [upload_message, table, status_md, doomed], api_name="upload").then(
            lambda: None, None, files
        )
        # Nothing irreversible on one click: the button asks, the confirmation deletes.
        delete_button.click(lambda doc: gr.update(visible=bool(doc)), doomed, confirm_row, api_visibility="private")
        cancel_button.click(lambda: gr.update(visible=False), None, confirm_row, api_visibility="private")
        confirm_button.click(
            events.delete, [doomed, remove_file], [delete_message, table, status_md, doomed], api_name="delete"
        ).then(lambda: gr.update(visible=False), None, confirm_row)
        app.load(lambda: (documents_table(assistant), status_markdown(assistant), gr.update(choices=events.document_choices())),
                 None, [table, status_md, doomed], api_visibility="private")  # fmt: skip
        gr.api(events.ask, api_name="ask")
        gr.api(events.documents, api_name="documents")
        gr.api(events.status, api_name="status")
    return app
