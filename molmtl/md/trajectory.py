"""extxyz trajectory writer for MD: positions, momenta, forces, energy and dipole per frame."""

from __future__ import annotations

import os
from typing import IO

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from molmtl.md.guard import MDState


class ExtxyzTrajectoryWriter:
    """Append one extxyz frame per call; each frame is flushed so a stopped run leaves whole frames.

    Frames carry ``energy`` (eV), ``forces`` (eV/Å), ``dipole`` (e·Å, when the model has a
    dipole head), the ``momenta`` array and ``step`` and ``time_fs`` in the frame info.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._stream: IO[str] = open(self.path, "w", encoding="utf-8")
        self.frames_written = 0

    def write(self, atoms: Atoms, state: MDState) -> None:
        """Append the frame of ``atoms`` with the results stored in ``state``."""
        from ase.io import write

        frame = atoms.copy()
        frame.info["step"] = state.step
        frame.info["time_fs"] = state.time_fs
        results = {"energy": state.potential_energy, "forces": state.forces}
        if state.dipole is not None:
            results["dipole"] = state.dipole
        frame.calc = SinglePointCalculator(frame, **results)
        write(self._stream, frame, format="extxyz")
        self._stream.flush()
        self.frames_written += 1

    def close(self) -> None:
        """Close the file."""
        self._stream.close()
