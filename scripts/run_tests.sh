#!/usr/bin/env bash
# Set up .venv if needed, then run the test suite on two workers.
# Extra arguments go to pytest, e.g. `bash scripts/run_tests.sh -m slow` for the long checks.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh"
cd "$root"
# Two pytest workers on two cores: one OpenMP thread each (torch and tblite), because
# oversubscribed OpenMP threads spin against each other and slowed two tests 40-50x (646 s against 12 s).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
if [ "$#" -eq 0 ]; then
    set -- -m "not slow"
fi
exec .venv/bin/python -m pytest -n 2 "$@"
