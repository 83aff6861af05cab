"""The page in a real headless Chromium (Debian's, driven by Playwright): ask, read the source, upload, delete.

A missing browser fails this test: `.ci/run` installs chromium, and the UI is not tested without it.
"""

import re
from pathlib import Path

import pytest

from tests.conftest import SHORE_QUESTION

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 30_000


@pytest.fixture
def page(tmp_path):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium (see README)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        yield page
        page.screenshot(path=str(tmp_path / "final.png"), full_page=True)
        print(f"screenshots in {tmp_path}")
        browser.close()


def ask(page, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()


def click_citation_until_shown(page, turn: int, n: int, marked: str) -> None:
    """Click [n] of answer `turn` until the viewer marks `marked` (at most 5 clicks): in one CI run under
    load a click made as the answer's event finished went unheard, and a user would simply click again."""
    from playwright.sync_api import expect

    link = page.locator(f"#chat a[href='#source-{turn}-{n}']").first
    for _ in range(4):
        link.click()
        try:
            expect(page.locator("#viewer mark")).to_contain_text(marked, timeout=3000)
            return
        except AssertionError:
            pass
    link.click()
    expect(page.locator("#viewer mark")).to_contain_text(marked)


def last_answer(page):
    return page.locator("#chat .message-row.bot-row, #chat [data-testid='bot']").last


def keep_screenshot(shot: Path, name: str) -> None:
    """ASSISTANT_SCREENSHOTS=DIR keeps a copy (docs/screenshots holds the README's, made so)."""
    import os
    import shutil

    if os.environ.get("ASSISTANT_SCREENSHOTS"):
        shutil.copy(shot, Path(os.environ["ASSISTANT_SCREENSHOTS"]) / name)


def new_conversation(page) -> None:
    page.locator("#new-conversation").click()


def test_ask_read_the_highlighted_source_upload_and_delete(writable_assistant, serve, page, tmp_path):
    from playwright.sync_api import expect

    page.goto(serve(writable_assistant))
    expect(page.locator("#chat")).not_to_contain_text("Within what distance")  # no example questions of another corpus

    ask(page, "How much has Britain paid France to stop the boats?")  # uncertain: a possible answer, hedged once
    expect(page.locator("#chat")).to_contain_text("Possible answer, not confirmed")  # the outcome's own badge
    expect(page.locator("#chat")).to_contain_text("Possibly:")
    expect(page.locator("#chat")).not_to_contain_text("Not stated directly")
    expect(page.locator("#sources")).to_contain_text("not confirmed")
    expect(page.locator("#sources strong.span").first).to_have_text("£500 million")  # the span marked in its card
    expect(page.locator("#viewer mark strong.span")).to_have_text("£500 million")  # and in the document, source 1
    click_citation_until_shown(page, 0, 2, "work together to prevent small boats")  # the [2] in the answer opens source 2
    page.screenshot(path=str(tmp_path / "uncertain.png"), full_page=True)

    # A second answer, then a citation of the first: it opens the first answer's source, not the newest one's.
    ask(page, SHORE_QUESTION)
    expect(page.locator("#chat")).to_contain_text("Answered")
    expect(page.locator("#chat")).to_contain_text("300 metres")
    expect(page.locator("#chat strong").last).to_contain_text("300 metres")  # the answer's own words, in bold
    click_citation_until_shown(page, 0, 1, "£500 million")
    expect(page.locator("#viewer")).to_contain_text("french-police-union-blocks-channel-crackdown.txt")
    click_citation_until_shown(page, 1, 1, "300 metres")
    mark = page.locator("#viewer mark")
    expect(mark).to_be_in_viewport()
    expect(page.locator("#viewer")).to_contain_text("french-police-fail-to-stop-migrant-boat.txt")
    page.screenshot(path=str(tmp_path / "answer-and-source.png"), full_page=True)
    keep_screenshot(tmp_path / "answer-and-source.png", "chat.png")

    # The conversation survives a reload, listed beside the chat.
    page.reload()
    expect(page.locator("#chat")).to_contain_text("300 metres")
    expect(page.locator("#conversations")).to_contain_text("How much has Britain paid France")

    # Ask only one document: the shore distance is not in the union article.
    new_conversation(page)
    page.locator("#doc-filter input").click()
    page.get_by_role("option", name=re.compile("union-blocks")).click()
    page.keyboard.press("Escape")
    ask(page, SHORE_QUESTION)
    expect(last_answer(page)).not_to_contain_text("Answered")
    expect(page.locator("#sources")).not_to_contain_text("fail-to-stop-migrant-boat")
    page.locator("#doc-filter").get_by_role("button", name=re.compile("Remove|×|Clear")).first.click()

    document = tmp_path / "lighthouse.txt"
    document.write_text("The lighthouse keeper of Port Ellery is Agnes Trevelyan. She has kept the light for 31 years.\n")
    page.get_by_role("tab", name="Documents").click()
    page.locator("#upload input[type=file]").set_input_files(str(document))  # dropping a file indexes it
    expect(page.locator("#upload-message")).to_contain_text("lighthouse.txt: indexed")
    expect(page.locator("#documents")).to_contain_text("lighthouse.txt")
    expect(page.locator("#documents")).to_contain_text("Indexed")  # every column fits at 1,400 px
    assert page.locator("#documents").bounding_box()["width"] <= 1400
    page.screenshot(path=str(tmp_path / "documents.png"), full_page=True)

    page.get_by_role("tab", name="Chat").click()
    new_conversation(page)
    ask(page, "Who is the lighthouse keeper of Port Ellery?")
    expect(page.locator("#chat")).to_contain_text("Agnes Trevelyan")
    expect(page.locator("#sources")).to_contain_text("lighthouse.txt")

    page.get_by_role("tab", name="Documents").click()
    page.locator("#delete-choice input").click()
    page.get_by_role("option", name=re.compile("lighthouse.txt")).click()
    page.locator("#delete-button").click()
    expect(page.locator("#delete-message")).not_to_contain_text("Deleted")  # one click asks, it deletes nothing
    page.locator("#confirm-delete").click()
    expect(page.locator("#delete-message")).to_contain_text("Deleted lighthouse.txt from the index (the file stays on disk)")
    expect(page.locator("#viewer")).not_to_contain_text("Agnes Trevelyan")  # the viewer forgets it

    page.get_by_role("tab", name="Chat").click()
    new_conversation(page)
    ask(page, "Who is the lighthouse keeper of Port Ellery?")
    # Gone from the index: not answered (not in the documents, or at most a hedged closest candidate).
    expect(page.locator("#chat")).to_contain_text(re.compile("Not in the documents|Possible answer, not confirmed"))
    expect(page.locator("#chat")).not_to_contain_text("Agnes Trevelyan")


HOSTILE = (
    "The harbour office keeps the keys. The keeper of Port Ellery is <form action='http://127.0.0.1:9/steal'>"
    "<input type='password' name='p'></form> Agnes Trevelyan ![x](http://127.0.0.1:9/beacon.png) "
    "<a style='position:fixed;top:0;left:0;width:100%;height:100%;z-index:9999' href='http://127.0.0.1:9/'>x</a>.\n"
)


@pytest.mark.parametrize("theme,width", [("light", 1400), ("dark", 1400), ("light", 390), ("dark", 390)])
def test_document_text_is_text_and_the_page_reads_in_both_themes_and_on_a_phone(
    make_assistant, serve, page, tmp_path, theme, width
):
    """A document's HTML, Markdown image and overlay are shown as text, nothing is fetched; screenshots of the
    answer in light and dark themes, on a desktop and at 390 px (ASSISTANT_SCREENSHOTS=DIR keeps them there too)."""
    from playwright.sync_api import expect

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "keeper.txt").write_text(HOSTILE)
    assistant = make_assistant(corpus)
    assistant.ingest()
    fetched = []
    page.on("request", lambda request: fetched.append(request.url) if ":9/" in request.url else None)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(serve(assistant) + f"?__theme={theme}")
    ask(page, "Who is the keeper of Port Ellery?")
    scrolled = page.evaluate("window.scrollY")  # where the click on Ask left the page
    expect(page.locator("#chat")).to_contain_text("Agnes Trevelyan")
    expect(page.locator("#chat")).to_contain_text("<form action='http://127.0.0.1:9/steal'>")  # the markup as text
    expect(page.locator("#viewer mark")).to_contain_text("Agnes Trevelyan")
    page.wait_for_timeout(500)
    assert page.locator("#chat form, #chat input, #chat img[src*=beacon], #chat a[style], #chat a[href*=':9/']").count() == 0
    # Showing the source scrolled the viewer, not the page (on a phone the viewer is a screen or more below the
    # answer; the page may settle by a few lines as the chat grows).
    assert abs(page.evaluate("window.scrollY") - scrolled) < 100
    expect(page.locator("#chat")).to_be_in_viewport()
    assert fetched == []
    shot = tmp_path / f"chat-{theme}-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot, shot.name)
