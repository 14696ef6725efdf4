# Everything the project needs installs from the package registries into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast serve bench clean messages

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/concord demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=25

# Unit and SQLite integration tests, without servers, benchmarks, PostgreSQL or NATS: for while you work.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not postgres and not nats and not slow"

serve: $(STAMP)
	$(BIN)/concord serve

bench: $(STAMP)
	$(BIN)/concord bench ingest --json

clean:
	rm -rf $(VENV) var

# The console's messages: extract from the code and templates, merge into each language's .po, compile the .mo
# files (committed, so an install needs no Babel).
CONSOLE := concord/console
messages: $(STAMP)
	cd $(CONSOLE) && ../../$(BIN)/pybabel extract -F babel.cfg -k tr:2 -k N_ --no-location --omit-header -o messages.pot .
	$(BIN)/pybabel update -i $(CONSOLE)/messages.pot -d $(CONSOLE)/locale --no-fuzzy-matching
	$(BIN)/pybabel compile -d $(CONSOLE)/locale --statistics
