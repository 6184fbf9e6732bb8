#!/usr/bin/env bash
# A Colab-like stack: genlib installed from its *wheel* (not the source tree) next to the newest
# torch and numpy the package registry serves, without the book's pins and without myst-nb
# (as in Colab, genlib.glue then does nothing). Runs genlib's unit tests and two chapters there.
#   make colab-check            # or: bash scripts/colab_check.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${1:-$(mktemp -d)}
python=${PYTHON:-python3}
echo "colab-check: working in $work"
[ -x "$work/venv/bin/python" ] || $python -m venv "$work/venv"  # a WORKDIR given twice is reused
pip="$work/venv/bin/python -m pip -q --disable-pip-version-check"
rm -rf "$work/dist"
$pip wheel --no-deps -w "$work/dist" "$root"
wheel=$(ls "$work"/dist/genlib-*.whl)
unzip -l "$wheel" | grep -q "genlib/metrics/mnist_classifier_v.*\.pt" \
  || { echo "colab-check: the wheel lacks the classifier weights" >&2; exit 1; }
# newest torch and numpy (no pins), then the wheel and what the tests and nbval need
$pip install --upgrade torch numpy
$pip install --force-reinstall --no-deps "$wheel"
$pip install "$wheel" pytest nbval ipykernel nbformat nbclient scikit-image hmmlearn pyyaml
# the tests and chapters run from a copy, so `import genlib` finds the installed wheel
mkdir -p "$work/run/book"
cp -r "$root/tests" "$work/run/tests"
cp "$root/book/q01_vae_principle.ipynb" "$root/book/q20_players_together.ipynb" "$work/run/book/"
cd "$work/run"
export GENLIB_CACHE="$work/cache" MPLBACKEND=Agg
"$work/venv/bin/python" -c "import torch, numpy, genlib; print('colab-check: torch', torch.__version__, 'numpy', numpy.__version__, 'genlib from', genlib.__file__); assert \"site-packages\" in genlib.__file__"
unit=(tests/test_losses.py tests/test_batched.py tests/test_train.py tests/test_gan_loop.py
      tests/test_models.py tests/test_metrics.py tests/test_bad_input_metrics.py tests/test_data.py
      tests/test_zoo.py tests/test_hmm.py tests/test_linear_gaussian.py tests/test_plot.py
      tests/test_classifier.py)  # not test_glue.py: it needs myst-nb, which Colab lacks
# $RUN_PREFIX (e.g. "flock /tmp/heavy.lock") wraps the two test runs on a shared machine
${RUN_PREFIX:-} "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "${unit[@]}"
${RUN_PREFIX:-} "$work/venv/bin/python" -m pytest -q -p no:cacheprovider book --nbval-lax --nbval-current-env \
  --nbval-sanitize-with tests/nbval_sanitize.cfg
echo "colab-check: passed"
