#!/usr/bin/env bash
# Set up .venv if needed, then run the main job on the embedded dataset:
# train (4 min), evaluate on a held-out split, NVE MD of ethanol, IR spectrum, plots, summary.
# Extra arguments go to `molmtl main-job` (see `molmtl main-job --help`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh"
cd "$root"
exec .venv/bin/molmtl main-job "$@"
