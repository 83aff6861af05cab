"""The MCP server (issue #40), reached with the official SDK's own client: over stdio (`assistant mcp` as a real
subprocess) and over streamable HTTP (`python app.py` as a real process), with and without the API key."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.conftest import SHORE_QUESTION
from tests.test_openai_api import start_app

TOOLS = {"ask", "search", "list_documents", "read_document"}


async def exercise(client: Client) -> dict:
    """Every tool once, as an agent would use them: what it found, for the assertions."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    asked = await client.call_tool("ask", {"question": SHORE_QUESTION})
    found = await client.call_tool("search", {"query": "largest police union", "k": 3})
    listed = await client.call_tool("list_documents", {})
    citation = asked.structured_content["citations"][0]
    opened = await client.call_tool(
        "read_document", {"doc_id": citation["doc_id"], "start": citation["start"], "end": citation["end"]}
    )
    unknown = await client.call_tool("read_document", {"doc_id": "no-such-document"})
    only = await client.call_tool(
        "ask", {"question": SHORE_QUESTION, "documents": ["french-police-union-blocks-channel-crackdown.txt"]}
    )
    return {"tools": tools, "asked": asked, "found": found, "listed": listed, "opened": opened, "unknown": unknown, "only": only}


def check(seen: dict, seed_assistant) -> None:
    assert set(seen["tools"]) == TOOLS
    assert all(tool.description and tool.input_schema["type"] == "object" for tool in seen["tools"].values())
    asked = seen["asked"]
    expected = seed_assistant.ask(SHORE_QUESTION).to_json()
    result = asked.structured_content
    assert {k: result[k] for k in ("outcome", "answer", "answer_span", "citations")} == {
        k: expected[k] for k in ("outcome", "answer", "answer_span", "citations")
    }  # the same code path as `assistant ask --json`
    text = asked.content[0].text
    assert text.startswith(result["answer"]) and "Sources:\n[1] " in text and "300 metres" in text
    passages = seen["found"].structured_content["passages"]
    assert len(passages) == 3 and all(p["text"] for p in passages)
    assert {Path(d["path"]).name for d in seen["listed"].structured_content["documents"]} == {
        "french-police-fail-to-stop-migrant-boat.txt", "french-police-union-blocks-channel-crackdown.txt"
    }  # fmt: skip
    citation = result["citations"][0]
    assert seen["opened"].structured_content["text"] == citation["quote"]
    assert seen["unknown"].is_error and "no indexed document 'no-such-document'" in seen["unknown"].content[0].text
    only = seen["only"].structured_content
    assert {Path(r["path"]).name for r in only["retrieved"]} == {"french-police-union-blocks-channel-crackdown.txt"}


def test_mcp_over_stdio_with_the_sdk_client(seed_assistant):
    command = shutil.which("assistant", path=str(Path(os.sys.executable).parent))
    parameters = StdioServerParameters(
        command=command, args=["mcp"], env={**os.environ, "ASSISTANT_INDEX_DIR": str(seed_assistant.settings.index_dir)}
    )

    async def run() -> dict:
        async with Client(parameters, read_timeout_seconds=120) as client:
            return await exercise(client)

    check(asyncio.run(run()), seed_assistant)


@pytest.fixture(scope="module")
def keyed_app(seed_assistant):
    process, url = start_app(seed_assistant.settings.index_dir, env={"ASSISTANT_API_KEY": "sesame"})
    yield url
    process.terminate()
    process.wait()


def test_mcp_over_http_needs_the_key_and_answers_as_v1_does(keyed_app, seed_assistant):
    refused = httpx.post(f"{keyed_app}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=30)
    assert refused.status_code == 401 and "API key" in refused.json()["error"]["message"]

    async def run() -> dict:
        http = create_mcp_http_client(headers={"Authorization": "Bearer sesame"})
        async with http, Client(streamable_http_client(f"{keyed_app}/mcp", http_client=http), read_timeout_seconds=120) as client:
            return await exercise(client)

    seen = asyncio.run(run())
    check(seen, seed_assistant)
    v1 = httpx.post(
        f"{keyed_app}/v1/chat/completions", headers={"Authorization": "Bearer sesame"}, timeout=60,
        json={"model": "corpus-assistant", "messages": [{"role": "user", "content": SHORE_QUESTION}]},
    ).json()  # fmt: skip
    mcp_result = seen["asked"].structured_content
    assert v1["corpus_assistant"]["answer"] == mcp_result["answer"]
    assert v1["corpus_assistant"]["citations"] == mcp_result["citations"]
    assert v1["choices"][0]["message"]["content"] == seen["asked"].content[0].text  # the same Sources block
    assert json.dumps(v1["corpus_assistant"]["outcome"]) == json.dumps(mcp_result["outcome"])
