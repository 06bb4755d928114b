# Front door: `make run` starts the whole stack, `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
ENGINE_VENV := .venv-engine
BIN := $(VENV)/bin

.PHONY: run test test-engines fuzz lint check messages venv engine-venv engine-venv-ocr engine-venv-whisper engine-venv-translate clean compat compat-deps

# The stamp files make the install step rerun only when a requirements file changes.
$(VENV)/.installed: requirements/base.txt requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $@

$(ENGINE_VENV)/.installed: requirements/engines.txt
	test -x $(ENGINE_VENV)/bin/python || $(PYTHON) -m venv $(ENGINE_VENV)
	$(ENGINE_VENV)/bin/pip install --quiet --upgrade pip
	$(ENGINE_VENV)/bin/pip install --quiet -r requirements/engines.txt
	touch $@

# One venv per reference engine under deploy/engines/ (ocr, whisper, translate), from requirements/engine-<name>.txt.
.venv-engine-%/.installed: requirements/engine-%.txt
	test -x .venv-engine-$*/bin/python || $(PYTHON) -m venv .venv-engine-$*
	.venv-engine-$*/bin/pip install --quiet --upgrade pip
	.venv-engine-$*/bin/pip install --quiet -r requirements/engine-$*.txt
	touch $@

venv: $(VENV)/.installed

engine-venv: $(ENGINE_VENV)/.installed

engine-venv-ocr: .venv-engine-ocr/.installed

engine-venv-whisper: .venv-engine-whisper/.installed

engine-venv-translate: .venv-engine-translate/.installed

# REDGX_LOCAL_ENGINES names the reference engines that run.py starts (default embed), so `make run`
# builds their venvs. An unknown name adds no target here, and run.py reports it.
comma := ,
LOCAL_ENGINES := $(subst $(comma), ,$(REDGX_LOCAL_ENGINES))
ifeq ($(origin REDGX_LOCAL_ENGINES),undefined)
LOCAL_ENGINES := embed
endif
ENGINE_VENV_TARGET_embed := engine-venv
ENGINE_VENV_TARGET_ocr := engine-venv-ocr
ENGINE_VENV_TARGET_stt := engine-venv-whisper
ENGINE_VENV_TARGET_translate := engine-venv-translate

run: venv $(foreach engine,$(LOCAL_ENGINES),$(ENGINE_VENV_TARGET_$(engine)))
	$(BIN)/python deploy/local/run.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check: venv
	mkdir -p .run
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

test: venv engine-venv lint check compat-deps
	$(BIN)/pytest

# The @upstash/redis SDK (npm) for tests/test_compat_sdk.py. Without npm the Node.js
# check is skipped and the Python SDK tests still run.
compat-deps:
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/compat && npm ci --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: the Node.js Upstash SDK check will be skipped"; \
	fi

# Drive a live RedGX with both Upstash SDKs: upstash-redis (PyPI) and @upstash/redis (npm).
compat: venv compat-deps
	$(BIN)/pytest tests/test_compat_sdk.py

# The OCR, Whisper and translation engine tests, which `make test` leaves out. The Whisper test
# synthesizes speech with espeak-ng (Debian package espeak-ng).
test-engines: venv engine-venv-ocr engine-venv-whisper engine-venv-translate
	$(BIN)/pytest -m reference_engines tests/engines

# A longer schemathesis run than the one in `make test`: more requests per operation and a new
# seed each time. A failure prints the request that caused it.
fuzz: venv
	REDGX_FUZZ_MAX_EXAMPLES=300 REDGX_FUZZ_SEED=random REDGX_FUZZ_TIMEOUT_S=900 $(BIN)/pytest tests/test_fuzz.py

# Update the Korean catalogue from the source and compile it (needs GNU gettext). Translate
# every new or fuzzy entry in locale/ko/LC_MESSAGES/django.po, run this again, and commit the
# .po with its .mo, so that `make run` needs no gettext. tests/test_i18n.py checks both.
MESSAGES_IGNORE := --ignore='.*' --ignore=tests --ignore=bench --ignore=deploy --ignore=staticfiles --ignore=test-artifacts
messages: venv
	$(BIN)/python manage.py makemessages --locale ko --add-location file --no-obsolete $(MESSAGES_IGNORE)
	$(BIN)/python manage.py compilemessages --locale ko $(MESSAGES_IGNORE)

clean:
	rm -rf .run .pytest_cache .ruff_cache
