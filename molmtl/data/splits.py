"""Reproducible train/validation/test splits: random, by molecule and by config_type.

Every function returns ``{split name: sorted structure indices}``. Fractions are of
structures. Splits by group (molecule, config_type) keep each group in one split, so their
sizes only approximate the fractions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from molmtl.data import format as fmt
from molmtl.data import keys
from molmtl.data.reader import H5Reader

DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.8, "valid": 0.1, "test": 0.1}


def _check_fractions(fractions: Mapping[str, float]) -> None:
    values = np.array(list(fractions.values()), dtype=float)
    if not len(values) or (values < 0).any() or not np.isclose(values.sum(), 1.0):
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {dict(fractions)}")


def random_split(
    num_structures: int, fractions: Mapping[str, float] = DEFAULT_FRACTIONS, seed: int = 0
) -> dict[str, np.ndarray]:
    """Split ``range(num_structures)`` at random with a seeded generator (same seed, same split)."""
    _check_fractions(fractions)
    order = np.random.default_rng(seed).permutation(num_structures)
    bounds = np.rint(np.cumsum(list(fractions.values())) * num_structures).astype(int)
    pieces = np.split(order, bounds[:-1])
    return {name: np.sort(piece) for name, piece in zip(fractions, pieces)}


def split_by_group(
    groups: Sequence[str] | np.ndarray, fractions: Mapping[str, float] = DEFAULT_FRACTIONS, seed: int = 0
) -> dict[str, np.ndarray]:
    """Split structures so that all structures of a group land in the same split.

    Groups are shuffled with ``seed`` and each goes to the split that is furthest below its
    target number of structures. Raises ``ValueError`` when there are fewer groups than
    splits with a positive fraction.
    """
    _check_fractions(fractions)
    labels = np.array([str(group) for group in groups])
    names, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    wanted = [name for name, fraction in fractions.items() if fraction > 0]
    if len(names) < len(wanted):
        raise ValueError(
            f"{len(names)} groups cannot fill {len(wanted)} splits; use a random split or fewer splits"
        )
    targets = {name: fraction * len(labels) for name, fraction in fractions.items()}
    filled = {name: 0 for name in fractions}
    assignment = np.empty(len(names), dtype=object)
    order = np.random.default_rng(seed).permutation(len(names))
    # Give every split with a positive fraction one group first, then fill by deficit.
    for split, group in zip(wanted, order[: len(wanted)]):
        assignment[group] = split
        filled[split] += sizes[group]
    for group in order[len(wanted) :]:
        split = max(fractions, key=lambda name: targets[name] - filled[name])
        assignment[group] = split
        filled[split] += sizes[group]
    structure_split = assignment[inverse]
    return {name: np.flatnonzero(structure_split == name) for name in fractions}


def molecule_names(reader: H5Reader) -> np.ndarray:
    """Return the molecule name of each structure; structures without one get their Hill formula."""
    from ase.data import chemical_symbols
    from ase.formula import Formula

    names = [str(name) for name in reader.read_column(fmt.MOLECULE)]
    for index, name in enumerate(names):
        if not name:
            numbers = reader.read_arrays(index)[keys.ATOMIC_NUMBERS]
            names[index] = Formula.from_list([chemical_symbols[z] for z in numbers]).format("hill")
    return np.array(names, dtype=object)


def split_by_molecule(
    path: str | os.PathLike[str], fractions: Mapping[str, float] = DEFAULT_FRACTIONS, seed: int = 0
) -> dict[str, np.ndarray]:
    """Split a file so that no molecule appears in two splits (see :func:`molecule_names`)."""
    return split_by_group(molecule_names(H5Reader(path)), fractions, seed)


def split_by_config_type(
    path: str | os.PathLike[str],
    assignment: Mapping[str, Sequence[str]] | None = None,
    fractions: Mapping[str, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Split a file by config_type.

    With ``assignment`` (split name -> config types) each listed config type goes to its
    split; a config type listed twice or a name that matches no structure raises
    ``ValueError``, and config types not listed are left out. Without it, config types are
    spread over ``fractions`` as groups.
    """
    config_types = np.array([str(value) for value in H5Reader(path).read_column(fmt.CONFIG_TYPE)])
    if assignment is None:
        return split_by_group(config_types, fractions, seed)
    present = set(config_types.tolist())
    seen: dict[str, str] = {}
    result = {}
    for split, types in assignment.items():
        for config_type in types:
            if config_type in seen:
                raise ValueError(
                    f"config_type {config_type!r} is assigned to both {seen[config_type]!r} and {split!r}"
                )
            if config_type not in present:
                raise ValueError(
                    f"config_type {config_type!r} matches no structure; the file has {sorted(present)}"
                )
            seen[config_type] = split
        result[split] = np.flatnonzero(np.isin(config_types, list(types)))
    return result
