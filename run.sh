#!/usr/bin/env bash
# One command on a fresh machine: set up a venv, build ruledsl (with its
# Cython extensions), lint every ruleset in rulesets/ and evaluate the
# example events.  Re-running reuses the venv.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip "setuptools>=68" wheel
"$VENV/bin/python" -m pip install -q -e ".[test]"
echo "== lint rulesets/"
"$VENV/bin/ruledsl" lint rulesets/
echo "== evaluate example events"
"$VENV/bin/python" -m ruledsl.cli.demo
