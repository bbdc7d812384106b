#!/usr/bin/env bash
# Set up .venv if needed, then run the test suite on two workers.
# Extra arguments go to pytest, e.g. `bash scripts/run_tests.sh -m slow` for the long checks
# or `bash scripts/run_tests.sh tests/test_md.py --durations=10`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh"
cd "$root"
# Two pytest workers on two cores: one OpenMP thread each (torch and tblite), because
# oversubscribed OpenMP threads spin against each other and slowed two tests 40-50x (646 s against 12 s).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# The long checks are marked slow and skipped unless a marker expression is given with -m.
marker_given=0
for argument in "$@"; do
    if [ "$argument" = "-m" ]; then
        marker_given=1
    fi
done
if [ "$marker_given" -eq 0 ]; then
    set -- -m "not slow" "$@"
fi
# loadgroup keeps tests marked with one xdist_group on one worker (the compiled-model tests share a package).
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
