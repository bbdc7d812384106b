#!/usr/bin/env bash
# Create the peer environments for the benchmarks: .venv-peers/mace (mace-torch) and
# .venv-peers/nequip (nequip). Each is a separate virtual environment because mace-torch
# pins e3nn 0.4.4, which cannot share an environment with molmtl's e3nn 0.6.
#
# torch==2.13.0 goes in first, then the peer package under a constraints file that keeps
# torch at 2.13.0: pip has a local CPU wheel for that version, and any other version would
# pull a multi-GB CUDA build.
#
# Usage: bash scripts/bench/setup_peers.sh [mace] [nequip]   (both when no name is given)
# Versions: MACE_VERSION and NEQUIP_VERSION pin the peer releases (default: the newest
# release that accepts torch 2.13.0).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
python_bin="${PYTHON:-python3}"
peers=("$@")
if [ ${#peers[@]} -eq 0 ]; then
    peers=(mace nequip)
fi

constraints="$root/.venv-peers/constraints.txt"
mkdir -p .venv-peers
printf 'torch==2.13.0\n' >"$constraints"

install_peer() {
    local name="$1" requirement="$2" import_name="$3"
    local venv=".venv-peers/$name"
    if [ ! -x "$venv/bin/python" ]; then
        echo "[peers] creating $venv with $("$python_bin" --version)"
        "$python_bin" -m venv "$venv"
    fi
    if ! "$venv/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
        echo "[peers] $name: installing torch==2.13.0 (CPU wheel)"
        "$venv/bin/pip" install --quiet "torch==2.13.0"
    fi
    echo "[peers] $name: installing $requirement with torch held at 2.13.0"
    "$venv/bin/pip" install --quiet --constraint "$constraints" "$requirement" ase
    "$venv/bin/python" - "$import_name" <<'PY'
import importlib
import importlib.metadata as metadata
import sys

import torch

module = importlib.import_module(sys.argv[1])
versions = {package: metadata.version(package) for package in ("torch", "e3nn", "ase")}
peer = {"mace": "mace-torch", "nequip": "nequip"}[sys.argv[1]]
versions[peer] = metadata.version(peer)
assert torch.__version__.startswith("2.13.0"), f"torch {torch.__version__} was installed; expected 2.13.0"
print("[peers] ready:", ", ".join(f"{name} {version}" for name, version in versions.items()))
PY
}

for peer in "${peers[@]}"; do
    case "$peer" in
        mace) install_peer mace "mace-torch${MACE_VERSION:+==$MACE_VERSION}" mace ;;
        nequip) install_peer nequip "nequip${NEQUIP_VERSION:+==$NEQUIP_VERSION}" nequip ;;
        *) echo "[peers] unknown peer '$peer'; expected mace or nequip" >&2; exit 2 ;;
    esac
done
