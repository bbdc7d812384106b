"""Amino-acid alphabet, the policy for non-standard residues, and per-residue input features.

Non-standard residue policy (applied by :func:`normalize_sequence` and :func:`encode_sequence`):

* Case is ignored: lower-case letters (soft-masked regions in many FASTA files) are read as
  the upper-case residue.
* ``U`` (selenocysteine) is encoded as ``C`` and ``O`` (pyrrolysine) as ``K``, the residues they
  replace chemically.
* Ambiguity codes are split evenly between their candidates: ``B`` = half ``D`` + half ``N``,
  ``Z`` = half ``E`` + half ``Q``, ``J`` = half ``I`` + half ``L``.
* ``X`` and every other letter is *unknown*: all 20 amino-acid channels are zero, the extra
  ``unknown`` channel is one, and the physicochemical features are the 20-residue mean (zero
  after standardisation).
* A trailing ``*`` (stop codon) is removed. Gaps (``-``, ``.``), digits, whitespace and other
  symbols raise :class:`ValueError` with the position, because they are not residues.

Secondary-structure labels of non-standard residues are kept. Relative solvent accessibility
needs a maximum ASA, so it is missing (masked) for every residue except the 20 standard ones,
``U`` and ``O``.
"""

from __future__ import annotations

import numpy as np

#: The 20 standard amino acids in alphabetical order of their one-letter codes.
STANDARD_AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
_INDEX = {letter: position for position, letter in enumerate(STANDARD_AMINO_ACIDS)}

#: Non-standard letters and the standard residues they are encoded as, with weights.
SUBSTITUTIONS: dict[str, dict[str, float]] = {
    "U": {"C": 1.0},
    "O": {"K": 1.0},
    "B": {"D": 0.5, "N": 0.5},
    "Z": {"E": 0.5, "Q": 0.5},
    "J": {"I": 0.5, "L": 0.5},
}

#: Number of one-hot channels: 20 amino acids plus one ``unknown`` channel.
ONE_HOT_SIZE = len(STANDARD_AMINO_ACIDS) + 1

# Physicochemical scales for the 20 standard residues, in STANDARD_AMINO_ACIDS order.
# Hydropathy: Kyte & Doolittle, J. Mol. Biol. 157, 105 (1982).
_HYDROPATHY = [1.8, 2.5, -3.5, -3.5, 2.8, -0.4, -3.2, 4.5, -3.9, 3.8,
               1.9, -3.5, -1.6, -3.5, -4.5, -0.8, -0.7, 4.2, -0.9, -1.3]
# Residue volume in Å^3: Zamyatnin, Prog. Biophys. Mol. Biol. 24, 107 (1972).
_VOLUME = [88.6, 108.5, 111.1, 138.4, 189.9, 60.1, 153.2, 166.7, 168.6, 166.7,
           162.9, 114.1, 112.7, 143.8, 173.4, 89.0, 116.1, 140.0, 227.8, 193.6]
# Polarity: Grantham, Science 185, 862 (1974).
_POLARITY = [8.1, 5.5, 13.0, 12.3, 5.2, 9.0, 10.4, 5.2, 11.3, 4.9,
             5.7, 11.6, 8.0, 10.5, 10.5, 9.2, 8.6, 5.9, 5.4, 6.2]
# Side-chain charge at pH 7 in e (His counted neutral, its pKa is about 6).
_CHARGE = [0, 0, -1, -1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]

#: Names of the physicochemical feature channels, in order.
PHYSCHEM_NAMES = ("hydropathy", "volume", "polarity", "charge")


def _standardised_table() -> np.ndarray:
    table = np.array([_HYDROPATHY, _VOLUME, _POLARITY, _CHARGE], dtype=np.float64).T
    return (table - table.mean(axis=0)) / table.std(axis=0)


#: [20, 4] physicochemical features, each scale standardised to mean 0 and std 1 over the 20 residues.
PHYSCHEM_TABLE = _standardised_table()
PHYSCHEM_SIZE = PHYSCHEM_TABLE.shape[1]


def normalize_sequence(sequence: str, name: str = "sequence") -> str:
    """Return ``sequence`` upper-cased, with a trailing ``*`` removed; raise on non-letters.

    Letters are kept as they are (``X``, ``B``, ``U`` ... stay), so label strings stay aligned.
    """
    text = sequence.strip().upper()
    if text.endswith("*"):
        text = text[:-1]
    for position, letter in enumerate(text):
        if not ("A" <= letter <= "Z"):
            raise ValueError(
                f"{name}: invalid character {letter!r} at residue {position + 1}; a sequence may "
                "contain only one-letter amino-acid codes (remove gaps, digits and spaces)"
            )
    if not text:
        raise ValueError(f"{name}: the sequence is empty")
    return text


def residue_weights(letter: str) -> dict[str, float]:
    """Return the standard residues that ``letter`` is encoded as, with weights (empty when unknown)."""
    letter = letter.upper()
    if letter in _INDEX:
        return {letter: 1.0}
    return dict(SUBSTITUTIONS.get(letter, {}))


def is_unknown(letter: str) -> bool:
    """Return True when ``letter`` maps to no standard residue (``X`` and unlisted letters)."""
    return not residue_weights(letter)


def encode_sequence(sequence: str, physchem: bool = True) -> np.ndarray:
    """Encode ``sequence`` as a ``[L, F]`` float32 array under the non-standard residue policy.

    Columns: 20 amino-acid channels, the ``unknown`` channel, then (when ``physchem``) the
    four standardised scales of :data:`PHYSCHEM_NAMES`, weighted like the one-hot channels.
    """
    text = normalize_sequence(sequence)
    one_hot = np.zeros((len(text), ONE_HOT_SIZE), dtype=np.float64)
    for position, letter in enumerate(text):
        weights = residue_weights(letter)
        if not weights:
            one_hot[position, -1] = 1.0
        for standard, weight in weights.items():
            one_hot[position, _INDEX[standard]] = weight
    if not physchem:
        return one_hot.astype(np.float32)
    features = one_hot[:, :-1] @ PHYSCHEM_TABLE
    return np.concatenate([one_hot, features], axis=1).astype(np.float32)


def feature_size(physchem: bool) -> int:
    """Return the number of input channels that :func:`encode_sequence` produces."""
    return ONE_HOT_SIZE + (PHYSCHEM_SIZE if physchem else 0)
