#!/usr/bin/env bash
# Run the five benchmarks against MACE and NequIP in the order that keeps untimed work
# (training the speed models, compiling NequIP) out of the timed runs.
# Usage: bash scripts/bench/run_all.sh [--quick]   (extra arguments go to every benchmark)
# Needs .venv (scripts/setup_env.sh) and .venv-peers (scripts/bench/setup_peers.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
python=.venv/bin/python
budget=()
for argument in "$@"; do
    if [ "$argument" = "--quick" ]; then budget=(--train-budget 30); fi
done
$python scripts/bench/prepare_speed_models.py "${budget[@]}"
$python scripts/bench/bench_data_loading.py "$@"
$python scripts/bench/bench_md_speed.py "$@"
$python scripts/bench/bench_scaling.py "$@"
$python scripts/bench/bench_accuracy.py "$@"
$python scripts/bench/bench_training_throughput.py --from-accuracy "$@"
