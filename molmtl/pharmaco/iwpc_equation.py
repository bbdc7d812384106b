"""The IWPC pharmacogenetic warfarin dosing equation, a fixed published reference model.

Source: The International Warfarin Pharmacogenetics Consortium, "Estimation of the warfarin
dose with clinical and pharmacogenetic data", N. Engl. J. Med. 360:753-764 (2009), pharmacogenetic
algorithm (coefficients as published, cross-checked against a public reimplementation). It
predicts the square root of the weekly dose::

    sqrt(dose, mg/week) = 5.6044
        - 0.2614 * age in decades          (20-29 -> 2, ..., 90+ -> 9)
        + 0.0087 * height (cm)
        + 0.0128 * weight (kg)
        - 0.8677 * VKORC1 -1639 A/G   - 1.6974 * A/A   - 0.4854 * genotype unknown
        - 0.5211 * CYP2C9 *1/*2       - 0.9357 * *1/*3 - 1.0616 * *2/*2
        - 1.9206 * CYP2C9 *2/*3       - 2.3312 * *3/*3 - 0.2188 * genotype unknown
        - 0.1092 * Asian race         - 0.2760 * Black or African American
        - 0.1032 * missing or mixed race
        + 1.1816 * enzyme inducer (carbamazepine, phenytoin, rifampin or rifampicin)
        - 0.5503 * amiodarone

Inputs (columns, as produced by :func:`molmtl.pharmaco.iwpc.load_iwpc`): ``age_decades``,
``height_cm``, ``weight_kg``, ``vkorc1_1639`` (``A/A``, ``A/G``, ``G/G``), ``cyp2c9``
(diplotype), ``race``, ``amiodarone``, ``enzyme_inducer`` (1/0).

Missing inputs:

* a missing VKORC1 or CYP2C9 genotype uses the published "unknown" term. CYP2C9 diplotypes
  outside the six listed (for example ``*1/*5`` or ``*1/*11``) also use the "unknown" term,
  because the equation has no term for them;
* race other than White, Asian or Black uses the "missing or mixed race" term;
* a missing amiodarone or enzyme-inducer status counts as not taking the drug (0);
* the equation has no term for missing age, height or weight. The published cohort had them
  for every patient. :class:`IWPCEquation` imputes them with the training-set median
  (``fit``) and counts the imputed rows, so that every patient gets a dose.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from molmtl.pharmaco.genotypes import is_missing

logger = logging.getLogger(__name__)

INTERCEPT = 5.6044
AGE_DECADES = -0.2614
HEIGHT_CM = 0.0087
WEIGHT_KG = 0.0128
VKORC1_1639 = {"A/G": -0.8677, "A/A": -1.6974, "unknown": -0.4854, "G/G": 0.0}
CYP2C9 = {"*1/*1": 0.0, "*1/*2": -0.5211, "*1/*3": -0.9357, "*2/*2": -1.0616, "*2/*3": -1.9206, "*3/*3": -2.3312, "unknown": -0.2188}
RACE = {"White": 0.0, "Asian": -0.1092, "Black or African American": -0.2760, "missing or mixed": -0.1032}
ENZYME_INDUCER = 1.1816
AMIODARONE = -0.5503

INPUT_COLUMNS = ("age_decades", "height_cm", "weight_kg", "vkorc1_1639", "cyp2c9", "race", "amiodarone", "enzyme_inducer")
CLINICAL_COLUMNS = ("age_decades", "height_cm", "weight_kg")


def _normalise_pair(value: Any, separator: str = "/") -> str | None:
    """Sort the two alleles of a genotype so that ``G/A`` and ``A/G`` compare equal."""
    if is_missing(value):
        return None
    parts = sorted(part.strip().upper() for part in str(value).split(separator))
    return separator.join(parts)


def _binary(series: pd.Series) -> np.ndarray:
    values = pd.to_numeric(series.where(~series.map(is_missing)), errors="coerce")
    return (values.fillna(0.0).to_numpy(dtype=np.float64) > 0.5).astype(np.float64)


class IWPCEquation:
    """The IWPC pharmacogenetic equation with the same ``fit``/``predict`` interface as the models.

    ``fit`` only learns the medians used to impute missing age, height and weight; the
    coefficients are fixed. ``predict`` returns doses in mg/week.
    """

    name = "IWPC equation"

    def __init__(self) -> None:
        self.medians: dict[str, float] = {}
        self.imputed_rows = 0

    def _check(self, frame: pd.DataFrame) -> None:
        absent = [column for column in INPUT_COLUMNS if column not in frame.columns]
        if absent:
            raise KeyError(f"the IWPC equation needs columns {absent}; load the table with molmtl.pharmaco.iwpc.load_iwpc")

    def fit(self, frame: pd.DataFrame) -> IWPCEquation:
        """Learn the medians of age, height and weight for imputation."""
        self._check(frame)
        for column in CLINICAL_COLUMNS:
            values = pd.to_numeric(frame[column], errors="coerce")
            if values.notna().sum() == 0:
                raise ValueError(f"column {column!r} has no values to compute an imputation median from")
            self.medians[column] = float(values.median())
        return self

    def predict_sqrt(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the predicted square root of the weekly dose."""
        self._check(frame)
        if not self.medians:
            raise RuntimeError("call fit() first; it learns the medians that replace missing age, height and weight")
        clinical = {}
        missing_any = np.zeros(len(frame), dtype=bool)
        for column in CLINICAL_COLUMNS:
            values = pd.to_numeric(frame[column], errors="coerce")
            missing_any |= values.isna().to_numpy()
            clinical[column] = values.fillna(self.medians[column]).to_numpy(dtype=np.float64)
        self.imputed_rows = int(missing_any.sum())
        if self.imputed_rows:
            logger.info("IWPC equation: imputed age, height or weight with training medians for %d patients", self.imputed_rows)

        vkorc1 = frame["vkorc1_1639"].map(_normalise_pair).map(lambda call: VKORC1_1639.get(call, VKORC1_1639["unknown"]) if call else VKORC1_1639["unknown"])
        cyp2c9 = frame["cyp2c9"].map(_normalise_pair).map(lambda call: CYP2C9.get(call, CYP2C9["unknown"]) if call else CYP2C9["unknown"])
        race = frame["race"].astype(str).str.strip().map(lambda label: RACE.get(label, RACE["missing or mixed"]))
        return (
            INTERCEPT
            + AGE_DECADES * clinical["age_decades"]
            + HEIGHT_CM * clinical["height_cm"]
            + WEIGHT_KG * clinical["weight_kg"]
            + vkorc1.to_numpy(dtype=np.float64)
            + cyp2c9.to_numpy(dtype=np.float64)
            + race.to_numpy(dtype=np.float64)
            + ENZYME_INDUCER * _binary(frame["enzyme_inducer"])
            + AMIODARONE * _binary(frame["amiodarone"])
        )

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the predicted weekly dose in mg/week."""
        return np.square(np.clip(self.predict_sqrt(frame), 0.0, None))
