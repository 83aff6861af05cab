"""The Gradio chat, launched for real and asked through gradio_client."""

import socket

import pytest

from app import build_app
from tests.conftest import SHORE_QUESTION


@pytest.fixture
def served(seed_assistant):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = build_app(seed_assistant)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, share=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_the_chat_answers_with_citations_and_sources(served):
    from gradio_client import Client

    client = Client(served, verbose=False)
    reply = client.predict(SHORE_QUESTION, api_name="/ask")
    assert "300 metres" in reply and "[1]" in reply and "**Sources**" in reply
    refusal = client.predict("What is the capital of Australia?", api_name="/ask")
    assert "does not answer" in refusal and "Related passages" in refusal
