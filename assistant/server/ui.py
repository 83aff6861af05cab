"""The chat page (Gradio): past conversations and the chat on the left, the cited sources and a document viewer on
the right, a Documents tab to upload and delete files; its layout and wiring. What each event does is in
``chat_events``, how answers are shown in ``render``. Everything goes through the `Assistant` facade.
"""

from __future__ import annotations

from assistant.facade import Assistant
from assistant.server.render import source_cards
from assistant.settings import SUPPORTED_SUFFIXES

# The viewer scrolls itself to the mark; the page does not move (on a phone the answer stays in view).
SCROLL_TO_MARK = """() => setTimeout(() => {
  const doc = document.querySelector('#viewer .doc');
  const mark = doc?.querySelector('mark, .related');
  if (mark) doc.scrollTop = mark.offsetTop - doc.offsetTop - doc.clientHeight / 3;
}, 100)"""
# A click on an answer's [n] opens that answer's source n (links are #source-TURN-N): it writes "TURN:N" into a hidden
# box whose change event shows the source, so an older answer's citation opens its own source, not the newest one's.
CITATION_LINKS_JS = """
() => document.addEventListener("click", (event) => {
  const link = event.target.closest('a[href^="#source-"]');
  if (!link) return;
  event.preventDefault();
  const [turn, n] = link.getAttribute("href").slice("#source-".length).split("-");
  const box = document.querySelector("#open-source textarea, #open-source input");
  if (!box) return;
  box.value = `${turn}:${n}:${Date.now()}`;
  box.dispatchEvent(new Event("input", {bubbles: true}));
}, true)
"""
# Colours from the theme's variables and translucent tints, so light and dark themes both read.
CSS = """
#viewer .doc {max-height: 460px; overflow-y: auto; white-space: pre-wrap; line-height: 1.5; padding: 0.5em;
              border: 1px solid var(--border-color-primary); border-radius: 6px}
#viewer mark {background: rgba(250, 176, 5, 0.35); color: var(--body-text-color); padding: 0 1px}
#viewer .related {outline: 1px dashed var(--border-color-accent); color: var(--body-text-color)}
.source-card {border-left: 3px solid var(--color-accent); padding: 0.2em 0.6em; margin: 0.4em 0}
.source-card.unsupported {border-left-color: #d9480f}
.badge {font-size: 0.9em; padding: 0.1em 0.5em; border-radius: 4px; color: var(--body-text-color)}
.badge.answered {background: rgba(64, 192, 87, 0.25)} .badge.uncertain {background: rgba(34, 139, 230, 0.22)}
.badge.not_stated {background: rgba(250, 176, 5, 0.28)} .badge.not_found {background: rgba(250, 82, 82, 0.22)}
strong.span {background: rgba(250, 176, 5, 0.55); color: var(--body-text-color); outline: 1px solid rgba(240, 140, 0, 0.9)}
#open-source {display: none}
#viewer code, #sources code {word-break: break-all}
#documents table {table-layout: auto}
"""


def build_app(assistant: Assistant):
    import gradio as gr

    from assistant.server.chat_events import EMPTY_CONVERSATIONS, ChatEvents

    answer_modes = assistant.answer_modes
    events = ChatEvents(assistant)
    with gr.Blocks(title="Corpus assistant", analytics_enabled=False) as app:
        answers = gr.State([])  # this conversation's answers (payloads), by turn: the citations of each stay its own
        shown_answer = gr.State(None)  # the answer whose sources the side panel shows
        # Conversations kept in this browser (localStorage), not on the server: {"current": id, "items": {id: ...}}.
        conversations = gr.BrowserState(EMPTY_CONVERSATIONS, storage_key="corpus-assistant-conversations")
        gr.Markdown("# Corpus assistant\nAnswers come only from the indexed documents; every sentence cites its passage.")
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=1, min_width=200):
                past = gr.Radio([], label="Conversations", elem_id="conversations")
                new = gr.Button("New conversation", elem_id="new-conversation")
                with gr.Accordion("Rename, export, delete", open=False):
                    title = gr.Textbox(label="Title", elem_id="conversation-title")
                    rename = gr.Button("Rename", elem_id="rename-conversation")
                    export = gr.Button("Export as Markdown", elem_id="export-conversation")
                    exported = gr.File(label="Markdown", visible=False, elem_id="exported")
                    forget = gr.Button("Delete conversation…", variant="stop", elem_id="delete-conversation")
                    with gr.Row(visible=False) as forget_row:
                        forget_yes = gr.Button("Yes, delete it", variant="stop", elem_id="confirm-delete-conversation")
                        forget_no = gr.Button("Cancel")
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Conversation", height=480, elem_id="chat")
                question = gr.Textbox(placeholder="Ask about the documents…", show_label=False, elem_id="question")
                with gr.Row():
                    send = gr.Button("Ask", variant="primary", elem_id="ask")
                only = gr.Dropdown(
                    [], multiselect=True, label="Ask only these documents (none chosen: all)", elem_id="doc-filter"
                )
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
                open_source = gr.Textbox(elem_id="open-source", show_label=False, container=False)
        with gr.Tab("Documents"):
            status_md = gr.Markdown()
            table = gr.Dataframe(
                headers=["Title", "File", "Chunks", "Indexed"], interactive=False, elem_id="documents", wrap=True,
                column_widths=["40%", "30%", "10%", "20%"],
            )  # fmt: skip
            files = gr.File(
                file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), label="Drop files to index them", elem_id="upload"
            )
            upload_message = gr.Markdown(elem_id="upload-message")
            doomed = gr.Dropdown(label="Document to delete", choices=[], elem_id="delete-choice")
            remove_file = gr.Checkbox(label="Also delete the file from the corpus folder", value=False, elem_id="remove-file")
            delete_button = gr.Button("Delete document…", variant="stop", elem_id="delete-button")
            with gr.Row(visible=False) as confirm_row:
                confirm_button = gr.Button("Yes, delete it", variant="stop", elem_id="confirm-delete")
                cancel_button = gr.Button("Cancel", elem_id="cancel-delete")
            delete_message = gr.Markdown(elem_id="delete-message")

        panel = [shown_answer, cards, chosen, viewer]
        conversation = [chatbot, answers, conversations, past, title] + panel
        for trigger in (question.submit, send.click):
            trigger(
                events.respond, [question, chatbot, answers, top_k, show_scores, mode, only],
                [chatbot, question, answers, *panel], api_visibility="private",
            ).then(
                events.save, [conversations, chatbot, answers], [conversations, past, title], api_visibility="private"
            ).then(None, js=SCROLL_TO_MARK)  # fmt: skip
        open_source.change(events.open_citation, [answers, open_source], panel, api_visibility="private").then(
            None, js=SCROLL_TO_MARK
        )
        chosen.input(events.open_choice, [shown_answer, chosen], viewer, api_visibility="private").then(None, js=SCROLL_TO_MARK)
        new.click(events.new_conversation, conversations, conversation, api_visibility="private")
        past.input(events.switch_conversation, [conversations, past], conversation, api_visibility="private")
        rename.click(events.rename_conversation, [conversations, title], [conversations, past], api_visibility="private")
        export.click(events.export_markdown, [chatbot, answers, title], exported, api_visibility="private")
        forget.click(lambda: gr.update(visible=True), None, forget_row, api_visibility="private")
        forget_no.click(lambda: gr.update(visible=False), None, forget_row, api_visibility="private")
        forget_yes.click(events.delete_conversation, conversations, conversation, api_visibility="private").then(
            lambda: gr.update(visible=False), None, forget_row
        )

        documents_outputs = [table, status_md, doomed, only]
        files.upload(
            events.upload, files, [upload_message, *documents_outputs], api_name="upload", show_progress_on=[upload_message]
        ).then(lambda: None, None, files)
        delete_button.click(lambda doc: gr.update(visible=bool(doc)), doomed, confirm_row, api_visibility="private")
        cancel_button.click(lambda: gr.update(visible=False), None, confirm_row, api_visibility="private")
        confirm_button.click(
            events.delete, [doomed, remove_file, shown_answer], [delete_message, *documents_outputs, viewer], api_name="delete"
        ).then(lambda: gr.update(visible=False), None, confirm_row)
        app.load(events.page_loaded, conversations, [*documents_outputs, *conversation], api_visibility="private")
        gr.api(events.ask, api_name="ask")
        gr.api(events.documents, api_name="documents")
        gr.api(events.status, api_name="status")
    return app
