"""The `assistant` command: thin wrappers over the facade. Heavy imports happen inside commands.

Exit codes: 0 answered or refused (or done), 2 usage error, 3 no index yet, 4 index built
with other settings, 5 another process is writing to the index, 6 the reader model is missing or corrupt,
7 a server holding the index (PostgreSQL, Chroma) cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
from pathlib import Path

from assistant.settings import LLM_BACKENDS

EXIT_USAGE = 2  # the other codes are the errors' own (assistant/errors.py)


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="assistant", description="Ask questions about your documents, offline, with checked citations."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_use_commands(commands, common)
    _add_eval_command(commands, common)
    _add_train_command(commands, common)
    return parser


def _common_options() -> argparse.ArgumentParser:
    """The flags every command takes: where the index lives, the models, retrieval, the LLM."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--corpus", type=Path, help="corpus folder (ASSISTANT_CORPUS_DIR, default corpus/)")
    common.add_argument("--index", type=Path, help="index folder (ASSISTANT_INDEX_DIR, default index/)")
    common.add_argument("--model", type=Path, help="sentence-transformers model folder (ASSISTANT_MODEL_PATH)")
    common.add_argument("--chroma-url", help="use a Chroma server, e.g. http://127.0.0.1:8000 (ASSISTANT_CHROMA_URL)")
    common.add_argument(
        "--database-url", help="the catalog in PostgreSQL: postgresql://user@host:5432/db (ASSISTANT_DATABASE_URL)"
    )
    common.add_argument("--chunk-size", type=int, help="chunk size in model word pieces (ASSISTANT_CHUNK_SIZE)")
    common.add_argument("--chunk-overlap", type=int, help="chunk overlap in word pieces (ASSISTANT_CHUNK_OVERLAP)")
    common.add_argument("--reader", type=Path, help="reader model folder (ASSISTANT_READER_PATH, default: the shipped one)")
    common.add_argument("--top-k", type=int, help="passages retrieved per question (ASSISTANT_TOP_K)")
    common.add_argument("--llm", choices=LLM_BACKENDS, help="LLM backend (ASSISTANT_LLM)")
    common.add_argument("--llm-url", help="LLM endpoint, e.g. http://127.0.0.1:8080/v1 (ASSISTANT_LLM_URL)")
    common.add_argument("--llm-model", help="model name, or a .gguf path for llama-cpp (ASSISTANT_LLM_MODEL)")
    common.add_argument("--strict", action="store_true", default=None, help="drop unsupported sentences (ASSISTANT_LLM_STRICT)")
    common.add_argument("--mode", choices=["extractive", "generative"], help="answerer (default: generative if an LLM is set)")
    common.add_argument("--verbose", action="store_true", help="show the libraries' log lines on stderr (hidden otherwise)")
    return common


def _add_use_commands(commands, common: argparse.ArgumentParser) -> None:
    """serve, ingest, ask, chat, status, delete, migrate: what a user runs day to day."""
    serve = commands.add_parser("serve", parents=[common], help="index the corpus, then serve the chat and the /v1 API")
    serve.add_argument("--host", help="address to bind (ASSISTANT_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (ASSISTANT_PORT, default 7860)")
    serve.add_argument("--auth", help="user:password required to use the page (required off 127.0.0.1)")
    serve.add_argument("--no-auth", action="store_true", help="allow a non-local address without a password or API key")
    serve.add_argument("--max-upload-mb", type=float, help="largest accepted upload (ASSISTANT_MAX_UPLOAD_MB, default 20)")
    serve.add_argument("--no-ingest", action="store_true", help="serve the index as it is")

    ingest = commands.add_parser("ingest", parents=[common], help="index files or folders (default: the corpus folder)")
    ingest.add_argument("paths", nargs="*", type=Path)
    ingest.add_argument("--rebuild", action="store_true", help="start from an empty index")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")

    ask = commands.add_parser("ask", parents=[common], help="answer one question, or one per line from stdin with '-'")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print JSON (always JSON lines with '-')")
    ask.add_argument("--doc", action="append", dest="documents", metavar="PATH_OR_ID", help="ask only this document (repeatable)")

    commands.add_parser("chat", parents=[common], help="a conversation in the terminal")
    commands.add_parser("mcp", parents=[common], help="serve the Model Context Protocol on stdin/stdout (for agents, editors)")
    status = commands.add_parser("status", parents=[common], help="what is indexed")
    status.add_argument("--json", action="store_true")
    status.add_argument("--documents", action="store_true", help="also list the documents (id, chunks, path)")

    delete = commands.add_parser(
        "delete", parents=[common], help="remove documents from the index (the files stay; a folder ingest skips them)"
    )
    delete.add_argument("documents", nargs="+", help="a file path or a document id (see `assistant status --documents`)")
    delete.add_argument("--remove-file", action="store_true", help="also delete the file, if it lies in the corpus folder")
    commands.add_parser(
        "migrate",
        parents=[common],
        help="copy the embedded index (--index) into PostgreSQL (--database-url) and a Chroma server (--chroma-url)",
    )


def _add_eval_command(commands, common: argparse.ArgumentParser) -> None:
    evaluate = commands.add_parser(
        "eval",
        parents=[common],
        help="score answers on a gold set (GOLD.jsonl), the reader on SQuAD-format data ('squad FILE.json'), "
        "its decision on the held-out mixes ('mix'), answerable against unanswerable passages ('gate'), "
        "or retrieval on BEIR data ('beir')",
    )
    evaluate.add_argument(
        "gold", metavar="GOLD.jsonl | squad | mix | gate | beir", help="a gold set, 'squad' FILE.json, 'mix', 'gate' or 'beir'"
    )
    evaluate.add_argument("file", nargs="?", type=Path, help="squad: a SQuAD-format file (v1.1 or v2.0)")
    evaluate.add_argument("--json", type=Path, dest="json_out", help="write the full report as JSON")
    evaluate.add_argument("--report", type=Path, help="write a Markdown report, failures first")
    evaluate.add_argument("--compare", type=Path, help="an earlier --json report to compare with")
    evaluate.add_argument(
        "--batches", help="also report slices of the gold set: question numbers where a batch ends, e.g. 42,72 (seed set)"
    )
    evaluate.add_argument(
        "--data", type=Path, help="beir: folder with corpus.jsonl, queries.jsonl, qrels/; mix: the training data folder"
    )
    evaluate.add_argument("--split", default="test", help="beir: qrels split; mix: test or validation (default test)")
    evaluate.add_argument("--tune", action="store_true", help="beir: also sweep the fusion parameters (use on train)")
    evaluate.add_argument("--verifier", type=Path, help="gate: also score this answer verifier's folder")


def _add_train_command(commands, common: argparse.ArgumentParser) -> None:
    train = commands.add_parser(
        "train-reader", parents=[common], help="train the reader (ASSISTANT_READER: span or sentence) and its calibration"
    )
    train.add_argument("--data", type=Path, default=Path("../shared/training"), help="training data folder")
    train.add_argument("--out", type=Path, help="where the model goes (default: the one the assistant uses)")
    train.add_argument("--seed", type=int, default=13)
    train.add_argument("--epochs", type=float, default=1.0)
    train.add_argument("--batch-size", type=int, help="default: 16 for the span reader, 32 for the sentence reader")
    train.add_argument("--max-pairs", type=int, default=40_000, help="sentence reader: training pairs used (0: all)")
    train.add_argument("--max-questions", type=int, help="span reader: questions drawn (default: all of TRAIN)")
    train.add_argument("--bf16", action="store_true", help="span reader: bf16 autocast (faster where the CPU has it natively)")
    train.add_argument("--sample", type=int, help="a quick check of the recipe: this many questions (and per mix domain)")
    train.add_argument(
        "--recalibrate", action="store_true", help="keep the model's weights; fit the calibration again and re-measure"
    )
    train.add_argument(
        "--precision-target", type=float, help="answer only where the VALIDATION mix's answers are right this often"
    )
    train.add_argument(
        "--checkpoint", type=Path, help="keep the fine-tuned weights here; reused when present (span reader: resumed from)"
    )
    train.add_argument("--no-quantize", action="store_true", help="ship fp32 instead of int8 weights")


def settings_from(args: argparse.Namespace):
    """Settings from the environment, overridden by the flags given (the one place flags become settings)."""
    from assistant.settings import Settings

    flags = {
        "corpus_dir": args.corpus,
        "index_dir": args.index,
        "model_path": args.model,
        "chroma_url": args.chroma_url,
        "database_url": args.database_url,
        "chunk_size": args.chunk_size,
        "chunk_overlap": args.chunk_overlap,
        "top_k": args.top_k,
        "reader_path": args.reader,
        "llm": args.llm,
        "llm_url": args.llm_url,
        "llm_model": args.llm_model,
        "llm_strict": args.strict,
        **{name: getattr(args, name, None) for name in ("host", "port", "max_upload_mb")},
    }
    return Settings(**{key: value for key, value in flags.items() if value is not None})


def configure_logging(verbose: bool) -> None:
    """The CLI's output is for its user: library log lines (pypdf's "EOF marker not found", bm25s's debug lines) are
    dropped unless --verbose. Set before any library is imported: one (llama-index's slides reader) calls
    basicConfig at import, which then finds the root logger configured and does nothing."""
    import logging

    handler = logging.StreamHandler() if verbose else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler], force=True)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `assistant ask ... | head` ends quietly
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    from assistant.errors import AssistantError, disk_full
    from assistant.facade import Assistant

    assistant = Assistant(settings_from(args))
    try:
        return COMMANDS[args.command](assistant, args)
    except AssistantError as exc:  # each says what to do; its class says the exit code (module docstring)
        print(f"assistant: {shown(exc)}", file=sys.stderr)
        return exc.exit_code
    except ValueError as exc:  # a setting or an argument that cannot be used
        print(f"assistant: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a full disk is the user's to fix, and says so; anything else is a fault of ours
        full = disk_full(exc)
        if full is None:
            raise
        print(f"assistant: {shown(full)}", file=sys.stderr)
        return full.exit_code


def cmd_ingest(assistant, args) -> int:
    report = assistant.ingest(args.paths or None, rebuild=args.rebuild)
    if args.json:
        print(json.dumps(report.__dict__, indent=2))
        return 0
    for path, reason in report.failed:
        print(f"skipped {shown(path)}: {shown(reason)}", file=sys.stderr)
    print(report.summary())
    return 0


def cmd_ask(assistant, args) -> int:
    from assistant.errors import AssistantError

    assistant.preload()
    documents = args.documents
    if args.question == "-":  # one JSON line per question; a question that cannot be asked gets its error, the rest go on
        failed = 0
        sys.stdin.reconfigure(errors="surrogateescape")  # an undecodable line is that line's error, not the batch's end
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                reply = assistant.ask(line.strip(), mode=args.mode, documents=documents).to_json()
            except (AssistantError, ValueError) as exc:
                shown_question = line.strip().encode("utf-8", "backslashreplace").decode("utf-8")
                reply, failed = {"question": shown_question, "error": str(exc)}, failed + 1
            print(json.dumps(reply, ensure_ascii=False), flush=True)
        return EXIT_USAGE if failed else 0
    question = args.question
    if args.json:
        print(json.dumps(assistant.ask(question, mode=args.mode, documents=documents).to_json(), indent=2, ensure_ascii=False))
    else:
        print(format_answer(stream_to_terminal(assistant.ask_stream(question, mode=args.mode, documents=documents))))
    return 0


def stream_to_terminal(pieces) -> object:
    """Show a generative answer as it is written (on stderr, so stdout keeps the verified answer); the final Answer."""
    wrote = False
    for piece in pieces:
        if isinstance(piece, str):
            if sys.stderr.isatty():
                sys.stderr.write(piece)
                sys.stderr.flush()
                wrote = True
        else:
            if wrote:
                sys.stderr.write("\n--- verified ---\n")
            return piece
    raise RuntimeError("the answerer gave no answer")


def cmd_chat(assistant, args) -> int:
    history: list[dict] = []
    print("Ask about the corpus; an empty line or Ctrl-D ends the conversation.")
    while True:
        try:
            question = input("> ").strip()
        except EOFError:
            print()
            return 0
        if not question:
            return 0
        answer = stream_to_terminal(assistant.ask_stream(question, history, mode=args.mode))
        print(format_answer(answer), end="\n\n")
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.answer}]


def cmd_delete(assistant, args) -> int:
    by_path = {doc.path: doc.doc_id for doc in assistant.documents()}
    missing = 0
    for wanted in args.documents:
        doc_id = by_path.get(Path(wanted).resolve().as_posix(), wanted)
        removed = assistant.delete(doc_id, remove_file=args.remove_file)
        if removed:
            kept = "" if args.remove_file else " from the index (the file stays; `assistant ingest PATH` adds it back)"
            print(f"deleted {shown(removed)}{kept}")
        else:
            print(f"assistant: no indexed document {shown(wanted)}", file=sys.stderr)
            missing += 1
    return EXIT_USAGE if missing else 0


def cmd_status(assistant, args) -> int:
    status = assistant.status()
    if args.documents:
        status["documents_list"] = [
            {"doc_id": d.doc_id, "chunks": d.n_chunks, "path": d.path, "title": d.title, "encoding": d.encoding}
            for d in assistant.documents()
        ]
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        import datetime

        last = status["last_ingest"]
        status["last_ingest"] = datetime.datetime.fromtimestamp(last).isoformat(timespec="seconds") if last else "never"
        listed = status.pop("documents_list", [])
        for key, value in status.items():
            print(f"{key:12} {shown(value)}")
        for doc in listed:
            encoding = f"  ({doc['encoding']})" if doc["encoding"] not in ("", "utf-8") else ""
            chunks = f"{doc['chunks']:5} chunk" + ("" if doc["chunks"] == 1 else "s")
            print(f"{doc['doc_id']}  {chunks}  {shown(doc['title'])} \u2014 {shown(doc['path'])}{encoding}")
    return 0


def cmd_migrate(assistant, args) -> int:
    from assistant.index.migrate import migrate

    target = assistant.settings
    source = target.model_copy(update={"database_url": None, "chroma_url": None})
    report = migrate(source, target, progress=lambda done, total: print(f"vectors {done}/{total}", file=sys.stderr))
    print(report.summary())
    return 0


def cmd_eval(assistant, args) -> int:
    if args.gold == "beir":
        return _eval_beir(assistant, args)
    if args.gold == "mix":
        return _eval_mix(assistant, args)
    if args.gold == "gate":
        return _eval_gate(assistant, args)
    if args.gold == "squad":
        return _eval_squad(assistant, args)
    from assistant.evaluation import gold as evaluate
    from assistant.evaluation import mix

    gold = Path(args.gold)
    if not gold.is_file():
        print(f"assistant: no gold file at {args.gold}", file=sys.stderr)
        return EXIT_USAGE
    previous = json.loads(args.compare.read_text()) if args.compare else None
    cuts = [int(n) for n in args.batches.split(",")] if args.batches else []
    report = evaluate.evaluate(assistant, gold, args.mode, cuts)
    print(evaluate.metrics_table(report, previous))
    if previous:
        flips = evaluate.compare(report, previous)
        print(f"\nimproved: {' '.join(flips['improved']) or '-'}\nregressed: {' '.join(flips['regressed']) or '-'}")
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    if args.report:
        args.report.write_text(evaluate.markdown_report(report, previous))
    stored = mix.stored_table(assistant.reader.folder)
    if stored:
        print(f"\nThe reader on its held-out TEST mix, per domain (measured when it was calibrated):\n{stored}")
    return 0


def _eval_squad(assistant, args) -> int:
    from assistant.evaluation import squad

    if args.file is None or not args.file.is_file():
        print("assistant: eval squad needs a SQuAD-format file: assistant eval squad FILE.json", file=sys.stderr)
        return EXIT_USAGE
    try:
        rows = squad.load_squad(args.file)
    except (ValueError, KeyError, TypeError) as exc:
        print(f"assistant: {args.file} is not a SQuAD-format file ({exc})", file=sys.stderr)
        return EXIT_USAGE
    outcomes: dict[str, str] = {}
    predictions, no_answer, best_guess = squad.predict(rows, assistant.encoder, assistant.reader, outcomes=outcomes)
    figures = squad.score(rows, predictions, no_answer, best_guess) | squad.claims(rows, outcomes)
    print("\n".join(f"{key:20} {value}" for key, value in figures.items()))
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=1))
    return 0


def _eval_gate(assistant, args) -> int:
    from assistant.answering.span_reader import SPAN_READER_DIR, SpanReader
    from assistant.answering.verifier import Verifier
    from assistant.evaluation import gate

    if not args.data or not (args.data / "span_qa.jsonl.gz").is_file():
        print("assistant: eval gate needs --data DIR (../shared/training)", file=sys.stderr)
        return EXIT_USAGE
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    verifier = Verifier(args.verifier) if args.verifier else None
    table = gate.run_gate(args.data, SpanReader(assistant.settings.reader_path or SPAN_READER_DIR), verifier, log=log)
    print(gate.markdown(table))
    if args.json_out:
        args.json_out.write_text(json.dumps(table, indent=1))
    return 0


def _eval_mix(assistant, args) -> int:
    from assistant.evaluation import mix

    if not args.data or not (args.data / "span_qa.jsonl.gz").is_file():
        print("assistant: eval mix needs --data DIR holding span_qa.jsonl.gz and span_qa_extra.jsonl.gz", file=sys.stderr)
        return EXIT_USAGE
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    split = "validation" if args.split == "validation" else "test"
    measured = mix.run(args.data, split, assistant.encoder, assistant.reader, log=log)
    print(mix.table(measured))
    if args.json_out:
        args.json_out.write_text(json.dumps(measured, indent=1))
    return 0


def _eval_beir(assistant, args) -> int:
    from assistant.evaluation import beir

    if not args.data or not (args.data / "corpus.jsonl").is_file():
        print("assistant: eval beir needs --data DIR holding corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv", file=sys.stderr)
        return EXIT_USAGE
    result = beir.run(args.data, args.split, args.index, tune=args.tune)
    print(beir.table(result))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1))
    return 0


def cmd_train_reader(assistant, args) -> int:
    from assistant.answering.model_files import READER_DIRS
    from assistant.training.calibrate import PRECISION_TARGETS
    from assistant.training.reader import recalibrate, train_reader

    if not (args.data / "span_qa.jsonl.gz").is_file():
        print(f"assistant: no training data in {args.data} (span_qa.jsonl.gz, sentence_pairs.jsonl.gz)", file=sys.stderr)
        return EXIT_USAGE
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    kind = assistant.settings.reader
    target = args.precision_target or PRECISION_TARGETS[kind]
    if args.recalibrate:
        folder = args.out or assistant.settings.reader_path or READER_DIRS[kind]
        recalibrate(args.data, folder, seed=args.seed, sample=args.sample, target=target, kind=kind, log=log)
        return 0
    if kind == "span":
        from assistant.training.span import SpanRecipe, run

        if args.checkpoint is None:
            print("assistant: the span reader trains for hours; give it a folder outside git: --checkpoint DIR", file=sys.stderr)
            return EXIT_USAGE
        recipe = SpanRecipe(seed=args.seed, epochs=args.epochs, batch_size=args.batch_size or 16, bf16=args.bf16)
        run(args.data, args.checkpoint, args.out or READER_DIRS[kind], recipe, args.max_questions, args.sample, target, log)
        return 0
    train_reader(
        args.data,
        args.out or READER_DIRS[kind],
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size or 32,
        sample=args.sample,
        max_pairs=args.max_pairs or None,
        checkpoint=args.checkpoint,
        quantize=not args.no_quantize,
        target=target,
        log=log,
    )
    return 0


OUTCOME_LABELS = {
    "answered": "answered",
    "uncertain": "uncertain",
    "not_stated": "not stated directly",
    "not_found": "not in the documents",
}


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def shown(text: str) -> str:
    """Document text, titles and paths as terminal text: control characters (escape sequences that set the window
    title, clear the screen or write the clipboard; a newline that forges an output line) shown escaped."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], str(text))


def outcome_label(answer) -> str:
    """The label says what the text says: a question in another language was not read, so it is no refusal."""
    if (answer.notice or "").startswith("language:"):
        return "not read: the models read English only"
    return OUTCOME_LABELS.get(answer.outcome, answer.outcome)


def format_answer(answer) -> str:
    from assistant.answering.answer import marked

    lines = [f"({shown(answer.notice)})", ""] if answer.notice and not answer.notice.startswith("language:") else []
    confidence = "" if answer.confidence is None else f", confidence {answer.confidence:.2f}"
    bold = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("**", "**")
    opening, closing = "\ue000", "\ue001"  # kept apart from the text's own characters until it is escaped
    text = shown(marked(answer, opening, closing)).replace(opening, bold[0]).replace(closing, bold[1])
    lines += [f"[{outcome_label(answer)}{confidence}]", text, ""]
    flagged = [s for s in answer.sentences if s.verdict not in ("supported", "quoted")]
    if flagged:
        lines += [f"! {s.verdict} (support {s.support:.2f}): {shown(s.text)}" for s in flagged] + [""]
    if answer.citations:
        lines.append("Sources:")
        lines += [
            f"[{c.n}] {shown(c.title)}\n    {shown(c.path)}, chars {c.start}-{c.end}, support {c.support:.2f}\n"
            f"    \u201c{shown(c.quote)}\u201d"
            for c in answer.citations
        ]
    if answer.related:
        lines += ([""] if answer.citations else []) + ["Related passages:"]
        lines += [
            f"- {shown(c.title)} ({shown(c.path)}, chars {c.start}-{c.end}): {shown(c.quote[:200])}" for c in answer.related
        ]
    return "\n".join(lines).rstrip()


def cmd_mcp(assistant, args) -> int:
    from assistant.server.mcp_server import run_stdio

    run_stdio(assistant)
    return 0


def cmd_serve(assistant, args) -> int:
    from assistant.server.launcher import serve

    serve(assistant, auth=args.auth, no_auth=args.no_auth, ingest=not args.no_ingest)
    return 0


COMMANDS = {
    "serve": cmd_serve,
    "ingest": cmd_ingest,
    "ask": cmd_ask,
    "chat": cmd_chat,
    "mcp": cmd_mcp,
    "status": cmd_status,
    "delete": cmd_delete,
    "eval": cmd_eval,
    "train-reader": cmd_train_reader,
    "migrate": cmd_migrate,
}

if __name__ == "__main__":
    sys.exit(main())
