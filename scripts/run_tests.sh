#!/usr/bin/env bash
# Set up .venv if needed, then run the test suite on two workers.
# Extra arguments go to pytest, e.g. `bash scripts/run_tests.sh -m slow` for the long checks.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh"
cd "$root"
if [ "$#" -eq 0 ]; then
    set -- -m "not slow"
fi
exec .venv/bin/python -m pytest -n 2 "$@"
