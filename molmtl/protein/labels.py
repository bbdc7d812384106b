"""Secondary-structure alphabets, the 8-to-3 state mapping and relative solvent accessibility.

8-state (DSSP) classes, in index order: ``H`` alpha helix, ``G`` 3-10 helix, ``I`` pi helix,
``E`` strand, ``B`` isolated bridge, ``T`` turn, ``S`` bend, ``C`` coil. DSSP's blank,
``-`` and ``L`` are read as ``C``; ``P`` (polyproline II, DSSP 4.x) is read as ``C`` too.

8-to-3 mapping (the reduction used by CB513 and NetSurfP-2.0): H, G, I -> H (helix);
E, B -> E (strand); T, S, C -> C (coil).

Relative solvent accessibility: ``RSA = ASA / maxASA(residue)``, with ASA in Å^2 and maxASA from
the *theoretical* table of Tien, Meyer, Sydykova, Spielman & Wilke, "Maximum allowed solvent
accessibilities of residues in proteins", PLoS ONE 8, e80635 (2013). Values above one (common
at chain termini) are clipped to one, because the model's sigmoid output lives in [0, 1].
"""

from __future__ import annotations

import numpy as np

SS8_STATES = "HGIEBTSC"
SS3_STATES = "HEC"

#: 8-state letter -> 3-state letter.
SS8_TO_SS3: dict[str, str] = {"H": "H", "G": "H", "I": "H", "E": "E", "B": "E", "T": "C", "S": "C", "C": "C"}

#: ``[8]`` int array: 3-state index of each 8-state index.
SS8_TO_SS3_INDEX = np.array([SS3_STATES.index(SS8_TO_SS3[state]) for state in SS8_STATES], dtype=np.int64)

#: Letters read as coil in 8-state strings besides ``C``.
_COIL_ALIASES = {" ", "-", "L", "P"}

#: Letters that mark a missing label in a label string.
MISSING_LABEL_CHARACTERS = {"?", "X", "*"}

#: Theoretical maximum ASA in Å^2 (Tien et al. 2013). ``U`` uses Cys and ``O`` uses Lys.
MAX_ASA_TIEN2013: dict[str, float] = {
    "A": 129.0, "R": 274.0, "N": 195.0, "D": 193.0, "C": 167.0,
    "E": 223.0, "Q": 225.0, "G": 104.0, "H": 224.0, "I": 197.0,
    "L": 201.0, "K": 236.0, "M": 224.0, "F": 240.0, "P": 159.0,
    "S": 155.0, "T": 172.0, "W": 285.0, "Y": 263.0, "V": 174.0,
    "U": 167.0, "O": 236.0,
}

MISSING = -1  # class index of a missing label


def ss8_indices(labels: str, name: str = "ss8") -> np.ndarray:
    """Convert an 8-state string to class indices; ``?``, ``X`` and ``*`` give :data:`MISSING`."""
    result = np.full(len(labels), MISSING, dtype=np.int64)
    for position, letter in enumerate(labels):
        letter = "C" if letter in _COIL_ALIASES else letter.upper()
        if letter in MISSING_LABEL_CHARACTERS:
            continue
        if letter not in SS8_TO_SS3:
            raise ValueError(
                f"{name}: invalid 8-state label {letter!r} at residue {position + 1}; expected one of "
                f"{SS8_STATES}, a DSSP blank or '-', or '?' for a missing label"
            )
        result[position] = SS8_STATES.index(letter)
    return result


def ss3_indices(labels: str, name: str = "ss3") -> np.ndarray:
    """Convert a 3-state string (H, E, C; ``-`` read as C) to class indices; ``?`` and ``X`` are missing."""
    result = np.full(len(labels), MISSING, dtype=np.int64)
    for position, letter in enumerate(labels):
        letter = "C" if letter in ("-", " ", "L") else letter.upper()
        if letter in MISSING_LABEL_CHARACTERS:
            continue
        if letter not in SS3_STATES:
            raise ValueError(
                f"{name}: invalid 3-state label {letter!r} at residue {position + 1}; expected H, E or C "
                "(or '?' for a missing label); convert 8-state strings with ss8_indices"
            )
        result[position] = SS3_STATES.index(letter)
    return result


def ss8_to_ss3(ss8: np.ndarray) -> np.ndarray:
    """Map 8-state class indices to 3-state indices; :data:`MISSING` stays missing."""
    ss8 = np.asarray(ss8, dtype=np.int64)
    result = np.full_like(ss8, MISSING)
    present = ss8 >= 0
    result[present] = SS8_TO_SS3_INDEX[ss8[present]]
    return result


def indices_to_string(indices: np.ndarray, states: str, missing: str = "?") -> str:
    """Convert class indices back to a label string (``missing`` for :data:`MISSING`)."""
    return "".join(states[index] if index >= 0 else missing for index in np.asarray(indices))


def relative_accessibility(asa: np.ndarray, sequence: str) -> np.ndarray:
    """Return RSA = ASA / maxASA (Tien et al. 2013, theoretical), clipped to [0, 1].

    ``asa`` is in Å^2. Residues without a maximum ASA (``X``, ``B``, ``Z`` ...) and NaN inputs
    give NaN, which the datasets treat as a missing label.
    """
    asa = np.asarray(asa, dtype=np.float64)
    if asa.shape != (len(sequence),):
        raise ValueError(f"ASA has shape {asa.shape} but the sequence has {len(sequence)} residues")
    maximum = np.array([MAX_ASA_TIEN2013.get(letter.upper(), np.nan) for letter in sequence])
    with np.errstate(invalid="ignore"):
        return np.clip(asa / maximum, 0.0, 1.0)
