# The two commands: `make demo` runs the main job, `make test` runs the tests.
# Both build .venv first when it is missing or pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := .demo

.PHONY: demo test test-slow test-all bench bench-table venv corpora clean wheel install-check

# No install pulls NVIDIA's CUDA packages: torch comes first, pinned, and from PyTorch's CPU index
# where a plain install would pull them (Linux from PyPI); here torch==2.13.0 is the local CPU wheel.
TORCH     := torch==2.13.0
CPU_INDEX := https://download.pytorch.org/whl/cpu
# $(call pulls_cuda,PYTHON,ARGS): true when `pip install ARGS` would install CUDA packages (a dry run;
# true as well when pip gives no answer, so a doubt never ends in a CUDA install)
pulls_cuda = $(1) -m pip install --quiet --dry-run --report - $(2) | $(1) -c 'import json, sys; text = sys.stdin.read(); \
	sys.exit(bool(text) and not any(p["metadata"]["name"].lower().startswith("nvidia-") for p in json.loads(text)["install"]))'
# $(call install_torch,PYTHON)
install_torch = if $(call pulls_cuda,$(1),$(TORCH)); then $(1) -m pip install --quiet $(TORCH) --index-url $(CPU_INDEX); \
	else $(1) -m pip install --quiet $(TORCH); fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(call install_torch,$(BIN)/python)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	mkdir -p $(DEMO)
	# the shipped story model (textgen/shipped/tinystories-lstm): a story, the next words and the gates on real text
	$(BIN)/textgen generate tinystories --prompt "Once upon a time" --max-tokens 200 --seed 1
	$(BIN)/textgen next tinystories "Once upon a time, there was a little girl named Lily. She saw a" --top 10
	$(BIN)/textgen gates tinystories "Lily saw a cat. The cat saw Lily."
	# now a model of your own: the bundled little-stories corpus, trained for two minutes
	$(BIN)/textgen corpus stats corpora/little-stories.txt
	$(BIN)/textgen tokenizer train corpora/little-stories.txt --kind sentencepiece --model-type bpe --vocab-size 800 --out $(DEMO)/little-stories.model
	$(BIN)/textgen tokenizer encode $(DEMO)/little-stories.model "$$(sed -n '1,/<|endoftext|>/p' corpora/little-stories.txt | grep -v '<|endoftext|>')"
	# train the default LSTM (sized from the two-minute budget) for two minutes, then evaluate it on unseen stories
	$(BIN)/textgen train corpora/little-stories.txt --out $(DEMO)/little --overwrite --tokenizer $(DEMO)/little-stories.model \
		--max-time 2m --val-every 100
	$(BIN)/textgen corpus generate little-stories --seed 1 --out $(DEMO)/heldout
	$(BIN)/textgen evaluate $(DEMO)/little $(DEMO)/heldout/little-stories.txt --streams 16
	# write three stories, then look at what the model expects next
	$(BIN)/textgen generate $(DEMO)/little --prompt "Once upon a time" -n 3 --max-tokens 150 --temperature 0.8 --top-p 0.95 --seed 1
	$(BIN)/textgen next $(DEMO)/little "Once upon a time, there was a" --top 10 --plot $(DEMO)/next-words.png
	# what the gates do while the model reads a sentence
	$(BIN)/textgen gates $(DEMO)/little "Lily saw a cat. The cat saw Lily." --plot $(DEMO)/gates.png
	# which sampling settings repeat least, then a diagnosis of the three stories above (same seed and settings)
	$(BIN)/textgen diagnose $(DEMO)/little --compare-settings --samples 8 --max-tokens 150 --prompt "Once upon a time"
	$(BIN)/textgen diagnose $(DEMO)/little --samples 3 --prompt "Once upon a time" --max-tokens 150 --temperature 0.8 \
		--top-p 0.95 --seed 1
	@echo "Explore the shipped model and this one in your browser (next words, continue, diagnosis, gates): $(BIN)/textgen serve tinystories --model-dir $(DEMO)/little"

# make test: every test but the slow end-to-end ones (about 3 minutes on 2 cores); CI runs those too
# (make test-slow: several processes, real signals, the docs pages, the wheel; about 6 minutes)
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

test-all: $(STAMP)
	$(BIN)/python -m pytest

# The wheel (dist/textgen-VERSION-py3-none-any.whl): every module, the explorer's page and the shipped model.
# Built with the venv's setuptools (torch needs >= 77 too) from a fresh build/, so no deleted module lingers in it.
wheel: $(STAMP)
	rm -rf build && rm -f dist/textgen-*.whl
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --check-build-dependencies --wheel-dir dist .
	rm -rf build

# The wheel installed for real (CI runs it after `make test`; a few minutes): a fresh venv in a temporary
# folder, torch (never CUDA), the wheel with its dependencies, then a story from outside the checkout.
install-check: wheel
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; py="$$tmp/venv/bin/python"; wheel=$$(ls $(CURDIR)/dist/textgen-*.whl); \
	$(PYTHON) -m venv "$$tmp/venv"; \
	$$py -m pip install --quiet --upgrade pip; \
	$(call install_torch,$$py); \
	if $(call pulls_cuda,$$py,$$wheel); then echo "error: installing $$wheel would pull CUDA packages" >&2; exit 1; fi; \
	$$py -m pip install --quiet $$wheel; \
	cd "$$tmp"; \
	$$py -c 'import textgen, sys; sys.exit(not textgen.__file__.startswith(sys.prefix))'; \
	"$$tmp/venv/bin/textgen" generate tinystories --max-tokens 30 --seed 1

# Benchmarks (JSON on stdout; an idle machine; about 9.5 hours on a 2-core CPU with both peers, 4.3 of them the
# classics folds at 1,200 s: FOLD_SECONDS=300 keeps the short folds, LONG_SECONDS= and FOLD_SECONDS= skip the long
# budgets, about 4 hours then). Each step runs through benchmarks/report.py, which keeps its JSON, command, time and
# machine in BENCH_OUT; the last step writes the results table of README.md and BENCHMARKS.md from those records
# (git diff shows what changed). PEER: pytorch/examples' word_language_model folder, NANOGPT: a karpathy/nanoGPT
# checkout (without them their rows say "skipped"); SHARED: the folder holding tinystories/, classics/, reviews/.
PEER    ?=
SHARED  ?= ../shared/corpora
SECONDS ?= 300
# the classics at 600 s: word_language_model needs about 340 s for one epoch of eight books, so at
# 300 s it saves no model and the comparison cannot be judged
CLASSICS_SECONDS ?= 600
NANOGPT ?=
# the classics folds (four splits, each at every budget here): about 16 minutes a fold at 300 s, 65 at 1200 s
FOLD_SECONDS ?= 300 1200
LONG_SECONDS ?= 1200  # TinyStories again at a longer budget (the best peer there: 2 x 200, BENCHMARKS.md)
BENCH_OUT := .bench/run-$(shell date +%Y%m%d-%H%M%S)
PEERS = $(if $(PEER),--peer $(PEER),) $(if $(NANOGPT),--nanogpt $(NANOGPT),)
STEP = $(BIN)/python benchmarks/report.py run --out $(BENCH_OUT) --name
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(STEP) peers-tinystories-$(SECONDS)s -- $(BIN)/python benchmarks/peers.py --seconds $(SECONDS) --shared $(SHARED) \
		--corpora tinystories $(PEERS)
	$(foreach seconds,$(LONG_SECONDS),$(STEP) peers-tinystories-$(seconds)s -- $(BIN)/python benchmarks/peers.py \
		--seconds $(seconds) --shared $(SHARED) --corpora tinystories --throughput-seconds 0 \
		--peer-configs "word_language_model 2x200 tied dropout 0.2" $(PEERS) &&) true
	$(STEP) peers-classics-$(CLASSICS_SECONDS)s -- $(BIN)/python benchmarks/peers.py --seconds $(CLASSICS_SECONDS) \
		--shared $(SHARED) --corpora classics --throughput-seconds 0 $(PEERS)
	$(foreach seconds,$(FOLD_SECONDS),$(STEP) peers-classics-folds-$(seconds)s -- $(BIN)/python benchmarks/peers.py \
		--seconds $(seconds) --shared $(SHARED) --corpora classics-folds --throughput-seconds 0 $(PEERS) &&) true
	$(STEP) generation-speed -- $(BIN)/python benchmarks/generation_speed.py
	$(STEP) generation-speed-default-command -- $(BIN)/python benchmarks/generation_speed.py --model tinystories --modes none
	$(STEP) cast -- $(BIN)/python benchmarks/cast.py --shared $(SHARED) --train-minutes 30 --out .bench/tinystories-30m
	$(STEP) scaling -- $(BIN)/python benchmarks/scaling.py
	$(STEP) long-inputs -- $(BIN)/python benchmarks/long_inputs.py --shared $(SHARED)
	$(STEP) story-quality -- $(BIN)/python benchmarks/story_quality.py --shared $(SHARED)
	$(STEP) first-story -- $(BIN)/python benchmarks/first_story.py
	$(STEP) max-time -- $(BIN)/python benchmarks/max_time.py --shared $(SHARED)
	$(STEP) library-defaults -- $(BIN)/python benchmarks/library_defaults.py --shared $(SHARED) --out .bench/defaults
	$(STEP) detectors -- $(BIN)/python benchmarks/detectors.py
	$(STEP) explorer-load -- $(BIN)/python benchmarks/explorer_load.py --model .bench/tinystories-30m
	$(STEP) classify -- $(BIN)/python benchmarks/classify.py --shared $(SHARED) --out .bench/classify
	$(BIN)/python benchmarks/report.py table $(BENCH_OUT) --write README.md --write BENCHMARKS.md

# The results table of README.md and BENCHMARKS.md again, from a run's records (BENCH_TABLE=.bench/run-...) or
# from the manifest of the dated runs kept in benchmarks/results (the default).
BENCH_TABLE ?= benchmarks/results/current.json
bench-table:
	python3 benchmarks/report.py table $(BENCH_TABLE) --write README.md --write BENCHMARKS.md

# Regenerate the project's own corpora (deterministic: the output is committed).
corpora: $(STAMP)
	$(BIN)/textgen corpus generate all --out corpora

clean:
	rm -rf $(VENV) $(DEMO) .bench .artifacts .pytest_cache *.egg-info build dist
