#!/usr/bin/env bash
# Create bench/.venv-emhass: a virtual environment holding EMHASS for bench/emhass_side.py.
#
# EMHASS (PyPI `emhass`, MIT) is a benchmark peer only, never a dependency of gridedge: it lives
# in its own environment, and bench/emhass_side.py talks to it through bench/emhass_runner.py in
# a subprocess. The release is pinned (0.18.7, the newest when this was written, CVXPY + HiGHS),
# and so are the solver stack's versions measured in shared/notes/ems.md.
#
# Usage: bash bench/emhass_env.sh [PYTHON]   (PYTHON defaults to python3; needs >= 3.11)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-emhass"
python="${1:-python3}"

EMHASS_VERSION=0.18.7
CVXPY_VERSION=1.7.5
HIGHSPY_VERSION=1.15.1

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet \
    "emhass==$EMHASS_VERSION" "cvxpy==$CVXPY_VERSION" "highspy==$HIGHSPY_VERSION"
"$venv/bin/python" -c "import importlib.metadata as m, emhass.optimization; print('emhass', m.version('emhass'), 'in', '$venv')"
