# One-command development: `make test` (creates .venv if missing, then ruff, mypy, pytest).
PYTHON ?= python3.11
VENV := .venv
TYPECHECK_VENV := .venv-typecheck
BIN := $(VENV)/bin
BLENDER_LAYER := $(shell find deforum_blender/blender -name '*.py')
# npm packages the tests use (acorn parses the Flamenco job type); none ship with the add-on.
NODE_TOOLS := node_modules/.installed

.PHONY: test lint typecheck pytest venv extension demo clean

test: lint typecheck pytest

venv: $(VENV)/.installed $(VENV)/.installed-no-deps $(NODE_TOOLS)

# Reinstalls only when a requirements file changes, so `make test` stays idempotent and quick.
$(VENV)/.installed: requirements/dev.txt deforum_blender/worker_requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# spandrel (upscalers) without its torchvision requirement: PyPI's Linux torchvision wheels are
# CUDA builds that would replace the CPU torch; engine/upscale.py stands in for what it imports.
$(VENV)/.installed-no-deps: deforum_blender/worker_requirements_no_deps.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --no-deps -r deforum_blender/worker_requirements_no_deps.txt
	touch $@

# Exact versions in package.json; no lock file, so the install names no registry.
$(NODE_TOOLS): package.json
	npm install --no-package-lock --no-audit --no-fund --silent
	touch $@

# bpy property annotations (`name: StringProperty(...)`) are calls, hence valid-type is off.
# fake-bpy-module lives apart from the real `bpy` so the type checker sees stubs, not the binary module.
$(TYPECHECK_VENV)/.installed: requirements/typecheck.txt
	test -x $(TYPECHECK_VENV)/bin/python || $(PYTHON) -m venv $(TYPECHECK_VENV)
	$(TYPECHECK_VENV)/bin/python -m pip install --quiet -r requirements/typecheck.txt
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv $(TYPECHECK_VENV)/.installed
	$(BIN)/mypy
	$(TYPECHECK_VENV)/bin/mypy --strict --python-version 3.11 --follow-imports=silent \
		--disable-error-code=valid-type $(BLENDER_LAYER)

pytest: venv
	$(BIN)/python -m pytest

extension: venv
	$(BIN)/python scripts/build_extension.py

# Builds a small scene, renders it headless into demo_output/ (DEFORUM_MODEL picks the model).
demo: venv
	$(BIN)/python scripts/demo.py

clean:
	rm -rf dist build .pytest_cache .mypy_cache .ruff_cache
