# One-command development: `make test` (creates .venv if missing, then ruff, mypy, pytest).
PYTHON ?= python3.11
VENV := .venv
TYPECHECK_VENV := .venv-typecheck
BIN := $(VENV)/bin
BLENDER_LAYER := $(shell find deforum_blender/blender -name '*.py')
# npm packages the tests use (acorn parses the Flamenco job type); none ship with the add-on.
NODE_TOOLS := node_modules/.installed
# uv installs the environments (in parallel, from its cache): pip took 90 s of a clean run.
UV_VERSION := 0.13.9
UV := $(BIN)/uv
# uv reads no pip configuration: pip's find-links (a local CPU torch wheel here) go with it.
# Bytecode compiled at install, as pip does: with PYTHONDONTWRITEBYTECODE set (as on CI),
# every test subprocess would otherwise compile torch and diffusers again.
UV_FLAGS := --quiet --compile-bytecode $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS))
# pytest processes: 3 on the 2-core CI machine. Most of the suite's CPU time is in the
# subprocesses it starts, and a worker waiting on one leaves a core idle: with 2 workers
# the cores were busy 1.7 of 2 (8:55 in-tree), with 3 about 1.9 (7:18-8:19), with 4 7:58.
TEST_WORKERS ?= 3

.PHONY: test lint typecheck pytest venv extension demo clean

# The checks run beside the tests (make -j): mypy's minute overlaps pytest's waits, and the
# tests start as soon as .venv is ready, while the type checker's environment is made.
test:
	$(MAKE) --no-print-directory -j3 lint typecheck pytest

venv: $(VENV)/.installed $(VENV)/.installed-no-deps $(NODE_TOOLS)

# Reinstalls only when a requirements file changes, so `make test` stays idempotent and quick.
$(VENV)/.installed: requirements/dev.txt deforum_blender/worker_requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) pip install --python $(BIN)/python $(UV_FLAGS) "pip>=24" -r requirements/dev.txt
	$(UV) pip install --python $(BIN)/python $(UV_FLAGS) --no-deps -e .
	touch $@

# spandrel (upscalers) without its torchvision requirement: PyPI's Linux torchvision wheels are
# CUDA builds that would replace the CPU torch; engine/upscale.py stands in for what it imports.
$(VENV)/.installed-no-deps: deforum_blender/worker_requirements_no_deps.txt $(VENV)/.installed
	$(UV) pip install --python $(BIN)/python $(UV_FLAGS) --no-deps \
		-r deforum_blender/worker_requirements_no_deps.txt
	touch $@

# Exact versions in package.json; no lock file, so the install names no registry.
$(NODE_TOOLS): package.json
	npm install --no-package-lock --no-audit --no-fund --silent
	touch $@

# bpy property annotations (`name: StringProperty(...)`) are calls, hence valid-type is off.
# fake-bpy-module lives apart from the real `bpy` so the type checker sees stubs, not the binary module.
$(TYPECHECK_VENV)/.installed: requirements/typecheck.txt $(VENV)/.installed
	test -x $(TYPECHECK_VENV)/bin/python || $(PYTHON) -m venv $(TYPECHECK_VENV)
	$(UV) pip install --python $(TYPECHECK_VENV)/bin/python $(UV_FLAGS) \
		-r requirements/typecheck.txt
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv $(TYPECHECK_VENV)/.installed
	$(BIN)/mypy
	$(TYPECHECK_VENV)/bin/mypy --strict --python-version 3.11 --follow-imports=silent \
		--disable-error-code=valid-type $(BLENDER_LAYER)

# One test file per process (--dist loadfile): a file's module fixtures are built once.
# Files go out in collection order (heavy, then slow ones first: tests/conftest.py), not by
# their number of tests.
# One OpenMP thread per process (torch's intra-op pool; the subprocesses inherit it too):
# two workers and their renders each spinning two threads on two cores took 11:15, not 8:02.
# Our own modules compiled first, as uv compiled the packages': with PYTHONDONTWRITEBYTECODE
# set (as on CI) each of the suite's few hundred Python subprocesses compiled them again.
pytest: venv
	$(BIN)/python -m compileall -q deforum_blender scripts tests
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile \
		--no-loadscope-reorder

extension: venv
	$(BIN)/python scripts/build_extension.py

# Builds a small scene, renders it headless into demo_output/ (DEFORUM_MODEL picks the model).
demo: venv
	$(BIN)/python scripts/demo.py

clean:
	rm -rf dist build .pytest_cache .mypy_cache .ruff_cache
