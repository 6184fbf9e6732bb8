# The two commands of the README:  `make book`  builds the HTML,  `make test`  runs every test.
# Both create (once) and use a virtual environment in .venv with everything requirements.txt lists.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
PYTEST_NB := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: book test unit notebooks browser install run cheatsheet colab-check pdf clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

## build the book (HTML in _build/html) from the stored, executed notebooks
book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

## all tests: genlib's unit tests and docstring examples, notebook hygiene, and every chapter
## re-executed by nbval. The chapters run NB_WORKERS at a time (pytest-xdist, one notebook per
## worker, one torch thread each: on two cores two single-threaded chapters side by side finish
## sooner than one after the other with two threads each); NB_WORKERS=1 runs them one by one with
## torch's default threads, as the per-chapter budgets are measured. JUNIT=prefix writes
## prefix-unit.xml and prefix-notebooks.xml (read by tools/timings.py).
NB_WORKERS ?= 2
NB_PARALLEL := $(if $(filter-out 1,$(NB_WORKERS)),OMP_NUM_THREADS=1 MKL_NUM_THREADS=1)
NB_XDIST := $(if $(filter-out 1,$(NB_WORKERS)),-n $(NB_WORKERS) --dist loadfile)
## The browser test (a few minutes, mostly chromium) runs in the second pytest run, beside the
## chapters, listed first so that it starts first rather than trailing at the end.
test: $(STAMP)
	$(BIN)/python -m pytest tests genlib --doctest-modules --ignore=tests/test_browser.py --durations=10 $(PYTEST_ARGS) $(if $(JUNIT),--junitxml=$(JUNIT)-unit.xml)
	$(BIN)/python -m tools.warm_zoo
	$(NB_PARALLEL) $(BIN)/python -m pytest tests/test_browser.py book $(PYTEST_NB) $(NB_XDIST) --durations=10 $(PYTEST_ARGS) $(if $(JUNIT),--junitxml=$(JUNIT)-notebooks.xml)

unit: $(STAMP)
	$(BIN)/python -m pytest tests genlib --doctest-modules

notebooks: $(STAMP)
	$(BIN)/python -m tools.warm_zoo
	$(NB_PARALLEL) $(BIN)/python -m pytest book $(PYTEST_NB) $(NB_XDIST)

## the browser test alone (part of `make test`): builds the book into a temporary folder and
## checks every page in Debian's chromium (apt-get install chromium fonts-noto-cjk)
browser: $(STAMP)
	$(BIN)/python -m pytest tests/test_browser.py -rA

## re-execute notebooks in place after editing them:  make run NB=book/q01_vae_principle.ipynb
run: $(STAMP)
	$(BIN)/python -m tools.nb run $(NB)

cheatsheet: $(STAMP)
	$(BIN)/python -m tools.nb cheatsheet
	$(BIN)/python -m tools.nb practice

## the whole book as one PDF (_build/latex/gm30-book.pdf, also copied next to the HTML); needs
## xelatex and CJK fonts: apt-get install texlive-xetex texlive-latex-extra texlive-lang-chinese
## latexmk fonts-noto-cjk fonts-freefont-otf
pdf: $(STAMP)
	$(BIN)/jupyter-book build . --builder pdflatex
	mkdir -p _build/html/downloads
	cp _build/latex/gm30-book.pdf _build/html/downloads/

## genlib's wheel with the newest torch and numpy (as Colab would have): unit tests and two chapters
colab-check:
	bash scripts/colab_check.sh

clean:
	rm -rf _build
