"""Shared fixtures: the location of the public datasets in ``../shared/data``."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_ROOT = REPO_ROOT.parent / "shared"
SHARED_DATA = SHARED_ROOT / "data"
EMBEDDED_DATASET = REPO_ROOT / "datasets" / "embedded.h5"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return ``../shared/data``; skip only when the whole ``../shared`` folder is absent.

    A user's clone has no ``../shared``. When the folder exists, a missing file inside it is
    a real failure and is not skipped.
    """
    if not SHARED_ROOT.exists():
        pytest.skip("../shared is absent (a user's clone); these tests need the public datasets")
    return SHARED_DATA
