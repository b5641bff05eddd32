#!/usr/bin/env sh
# newswatch developer entry point: sets everything up on a fresh machine, then runs one thing.
#
#   sh deploy/dev.sh demo [ARGS]   install, then run the demo (bundled feeds on loopback, alerts on the console)
#   sh deploy/dev.sh test [ARGS]   install with test extras, then lint, type-check, check rules/ and run pytest
#   sh deploy/dev.sh run  [ARGS]   install, then `newswatch ARGS` (e.g. run --config deploy/worker.example.yaml)
#
# Needs only python3 (>= 3.10). On Debian/Ubuntu, a missing venv module is installed with apt-get when root.
set -eu
cd "$(dirname "$0")/.."
cmd=${1:-}
[ $# -gt 0 ] && shift
PY=${PYTHON:-python3}

die() { echo "deploy/dev.sh: $*" >&2; exit 1; }

command -v "$PY" >/dev/null 2>&1 || die "python3 not found; install Python 3.10 or newer (e.g. apt-get install python3)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "Python 3.10 or newer is needed, found $("$PY" --version 2>&1)"
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "deploy/dev.sh: installing python3-venv with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    die "the Python venv module is missing; install it (Debian/Ubuntu: sudo apt-get install python3-venv)"
  fi
fi

extras=""
[ "$cmd" = test ] && extras="[test]"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# (the C kernels' source too: an editable install compiles them at install time, so a change needs a new one)
stamp=".venv/.installed$(echo "$extras" | tr -d '[]')-$(cat pyproject.toml pipeline/dedup/_native.c | cksum | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
  echo "deploy/dev.sh: installing newswatch$extras into .venv (first run takes a minute)" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extras"
  touch "$stamp"
  .venv/bin/python -c 'import pipeline.dedup._native' 2>/dev/null || echo "deploy/dev.sh: warning: the dedup" \
    "stage's C kernels were not built (no C compiler? e.g. apt-get install gcc python3-dev, then rm $stamp);" \
    "newswatch runs without them, slower (README, Dedup speed)" >&2
fi

case "$cmd" in
  demo) exec .venv/bin/newswatch demo "$@" ;;
  run) exec .venv/bin/newswatch "$@" ;;
  test)
    echo "== ruff" && .venv/bin/ruff check .
    echo "== mypy" && .venv/bin/mypy
    echo "== rules check" && .venv/bin/newswatch rules check rules
    echo "== pytest"
    exec .venv/bin/python -m pytest "$@" ;;
  *) die "usage: sh deploy/dev.sh demo|test|run [ARGS]" ;;
esac
