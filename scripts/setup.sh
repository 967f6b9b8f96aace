#!/usr/bin/env bash
# Create .venv (if missing) and install mammorcnn with everything it needs, on a machine with
# only Python 3.10+. torch/torchvision are pinned to the release this project is tested with;
# override with TORCH_SPEC="torch==X torchvision==Y" (for example a CPU-only wheel index).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# shellcheck disable=SC2086
.venv/bin/python -m pip install -q ${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
.venv/bin/python -m pip install -q -e ".[test,export]"
echo "mammorcnn installed in $(pwd)/.venv"
