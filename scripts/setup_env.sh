#!/usr/bin/env bash
# Create (or reuse) .venv in the repository root and install molmtl with its test extras.
# torch==2.13.0 goes in first: pip has a local CPU wheel for it, and any other version
# would pull a multi-GB CUDA build. The range in pyproject.toml accepts 2.13.0.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python_bin="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $("$python_bin" --version)"
    "$python_bin" -m venv .venv
fi
if ! .venv/bin/python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
    echo "[setup] installing torch==2.13.0 (CPU wheel)"
    .venv/bin/pip install --quiet "torch==2.13.0"
fi
stamp=.venv/.molmtl-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "[setup] installing molmtl and its test extras"
    .venv/bin/pip install --quiet -e ".[test]"
    touch "$stamp"
fi
echo "[setup] ready: $(.venv/bin/python -c 'import molmtl; print("molmtl", molmtl.__version__)')"
