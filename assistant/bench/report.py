"""The benchmark's Markdown table, with each goal marked met or missed."""

from __future__ import annotations


def met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report_table(results: dict) -> str:
    lines = [f"On {results['settings']['cpu']}.", "", "| measure | value | goal |", "|---|---|---|"]
    lines += _recall_rows(results)
    if "ingest" in results:
        i = results["ingest"]
        lines += [
            f"| ingest, {i['documents']} SciFact abstracts ({i['chunks']} chunks) | {i['ingest_chunks_per_s']} chunks/s | |",
            f"| raw `SentenceTransformer.encode`, same chunks | {i['raw_encode_chunks_per_s']} chunks/s | |",
            f"| ingest / raw encode | {i['ratio']} | |",
        ]
        if "encoder_alone_chunks_per_s" in i:
            ceiling = round(i["encoder_alone_chunks_per_s"] / i["raw_encode_chunks_per_s"], 2)
            lines.append(
                f"| our encoder alone, {i['encoder_precision']}, same chunks: the ceiling of ingest here | "
                f"{i['encoder_alone_chunks_per_s']} chunks/s = {ceiling} × raw encode | |"
            )
        if "ingest_stages_s" in i:
            stages = ", ".join(f"{name.replace('_', ' ')} {seconds} s" for name, seconds in i["ingest_stages_s"].items())
            chunking = i["ingest_stages_s"].get("read_chunk_cpu", i["ingest_stages_s"]["read_chunk"])
            share = chunking / i["ingest_seconds"]
            lines.append(
                f"| where the ingest's {i['ingest_seconds']} s went (its own thread) | {stages} | "
                f"read + chunk (CPU) ≤ 3 % of it ({share:.1%}: {met(share <= 0.03)}) |"
            )
        if "whole_process_ratio" in i:
            goal = 2.0 if i["encoder_precision"].startswith("bf16") else 1.3  # issue #35: with native bf16, and without
            lines += [
                f"| whole process: `assistant ingest` into a fresh index / a process encoding "
                f"the same texts with sentence-transformers | {i['whole_process_ingest_s']} / "
                f"{i['whole_process_plain_encode_s']} s = {i['whole_process_ratio']} × | "
                f"≥ {goal} ({met(i['whole_process_ratio'] >= goal)}) |"
            ]
        if "peer_ratio" in i:
            goal = met(i["peer_ratio"] >= 3)
            peer = f"LlamaIndex default pipeline, same files and model ({i['peer_chunks']} chunks)"
            lines += [
                f"| {peer} | {i['peer_chunks_per_s']} chunks/s | |",
                f"| ingest / LlamaIndex default | {i['peer_ratio']} | ≥ 3.0 ({goal}) |",
            ]
    w, c = results["warm_ask"], results["cold_ask"]
    lines += [
        f"| seed index: warm `ask` p50 / p95 ({w['questions']} questions) | {w['p50_ms']} / {w['p95_ms']} ms | "
        f"p50 ≤ 60 ({met(w['p50_ms'] <= 60)}) |",
        f"| seed index: of which retrieve / answer, p50 | {w['retrieve_p50_ms']} / {w['answer_p50_ms']} ms | |",
        f"| seed index: cold `assistant ask`, median of {c['runs']} | {c['median_s']} s (max {c['max_s']} s) | "
        f"≤ 1.0 s ({met(c['median_s'] <= 1.0)}) |",
    ]
    for key, s in results.items():
        if key.startswith("scale_"):
            server = key.endswith("_server")
            n = f"{s['chunks']:,} chunks" + (", server mode" if server else "")
            big = int(key.split("_")[1]) >= 100_000  # the size asked for: replicas land a few chunks off it
            p50_goal = 45 if big else 66  # 10k: hold the 55-66 ms of issue #35
            lines += [
                f"| {n}: warm `ask` p50 / p95 ({s['questions']} SciFact queries) | {s['p50_ms']} / {s['p95_ms']} ms | "
                f"p50 ≤ {p50_goal} ({met(s['p50_ms'] <= p50_goal)}) |",
                f"| {n}: retrieve p50 / p95 | {s['retrieve_p50_ms']} / {s['retrieve_p95_ms']} ms | "
                + (f"p50 ≤ 10 ({met(s['retrieve_p50_ms'] <= 10)}) |" if big else "|"),
                f"| {n}: answer p50 / p95 | {s['answer_p50_ms']} / {s['answer_p95_ms']} ms | |",
                f"| {n}: peak RSS ingesting / serving | {s['ingest_peak_rss_mb']} / {s['serve_peak_rss_mb']} MB | "
                + (f"serving ≤ 1024 MB ({met(s['serve_peak_rss_mb'] <= 1024)}) |" if big else "|"),
                f"| {n}: index on disk | {s['index_mb']} MB | |" if s["index_mb"] is not None else "",
                f"| {n}: ingest, vectors replayed | {s['ingest_replayed_per_s']} chunks/s | |",
                f"| {n}: delete one document | {s['delete_one_document_s']} s | < 1 s ({met(s['delete_one_document_s'] < 1)}) |",
                f"| {n}: cold `ask` / UI to first answer | {s['cold_ask_s']} / {s['cold_ui_first_answer_s']} s | "
                + (f"ask ≤ 2 s ({met(s['cold_ask_s'] <= 2)}) |" if big else "|"),
            ]
            if server:
                seen = s["change_seen_elsewhere_s"]
                lines.append(
                    f"| {n}: an upload through one host: indexed / answered on another host after | "
                    f"{s['change_upload_s']} / {seen} s | seen ≤ 2 s ({met(seen <= 2)}) |"
                )
    return "\n".join(line for line in lines if line)


def _recall_rows(results: dict) -> list[str]:
    """Issue #42 and #40: the dense search's recall and cost, the ledger questions, MCP search against in process."""
    rows = []
    for name, label in (("recall_scifact", "SciFact"), ("recall_ledgers", "seed articles + templated ledgers")):
        if name in results:
            r = results[name]
            rows.append(
                f"| dense recall@50 against exact search, {label} ({r['chunks']:,} chunks, {r['distinct_vectors']:,} distinct) | "
                f"exact (shipped): 1.0 at p50 {r['exact_p50_ms']} ms; HNSW: {r['hnsw_recall_at_50']} "
                f"(worst query {r['hnsw_recall_at_50_min']}) at p50 {r['hnsw_p50_ms']} ms | ≥ 0.99 ({met(True)}) |"
            )
    for key, value in results.items():
        if key.startswith("scale_") and isinstance(value, dict) and "hnsw_recall_at_50" in value:
            hnsw = f"HNSW: {value['hnsw_recall_at_50']} at p50 {value['hnsw_p50_ms']} ms"
            rows.append(
                f"| dense recall@50 against exact search, {value['chunks']:,} chunks | exact (shipped): 1.0 at p50 "
                f"{value['exact_p50_ms']} ms; {hnsw} | ≥ 0.99 ({met(True)}) |"
            )
    if "recall_ledgers" in results:
        r = results["recall_ledgers"]
        rows.append(
            f"| the six questions of issue #42 beside the ledgers: answered (without the ledgers) / the same answer as "
            f"without them / citing the articles | {r['answered']} ({r['answered_without_ledgers']}) / "
            f"{r['same_outcome_as_without']} / {r['cited_the_articles']} of {r['questions']} | as without the ledgers "
            f"({met(r['same_outcome_as_without'] == r['questions'])}) |"
        )
    if "mcp_search" in results:
        m = results["mcp_search"]
        rows.append(
            f"| warm `search` p50, seed: MCP over HTTP / in process (the CLI's retrieve) | {m['mcp_http_p50_ms']} / "
            f"{m['in_process_p50_ms']} ms | within 20 ms ({met(m['difference_p50_ms'] <= 20)}) |"
        )
    return rows
