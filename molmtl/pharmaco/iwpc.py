"""Loader for the International Warfarin Pharmacogenetics Consortium (IWPC) patient table.

The IWPC table (IWPC, N. Engl. J. Med. 360:753, 2009; distributed by PharmGKB) has one row per
patient with demographics, indication, co-medications, CYP2C9 and VKORC1 genotypes and the
stable therapeutic warfarin dose in mg/week. :func:`load_iwpc` renames the columns used here to
short names (see :data:`IWPC_COLUMNS`), derives a few (age in decades, enzyme-inducer status,
indication flags) and returns a :class:`PatientTable` whose task is the self-reported race:
``White``, ``Asian`` or ``Black or African American``.

Other rows: race ``Unknown`` or blank is left out and counted by default
(``other_race="exclude"``), or kept as a fourth task named ``Unknown race``
(``other_race="task"``).
Patients who did not reach a stable dose are left out and counted by default
(``stable_only=True``), because their recorded dose is not a maintenance dose.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from molmtl.pharmaco.encoding import FeatureSpec
from molmtl.pharmaco.genotypes import MISSING_TOKENS, is_missing
from molmtl.pharmaco.table import PatientTable, prepare_table

logger = logging.getLogger(__name__)

IWPC_TASKS = ("White", "Asian", "Black or African American")
TASK_COLUMN = "race"
DOSE_COLUMN = "dose_mg_week"
ID_COLUMN = "patient_id"
UNKNOWN_RACE = "Unknown race"

# short name -> column header in the IWPC table
IWPC_COLUMNS: dict[str, str] = {
    "patient_id": "PharmGKB Subject ID",
    "race": "Race",
    "sex": "Gender",
    "ethnicity": "Ethnicity",
    "age_bin": "Age",
    "height_cm": "Height (cm)",
    "weight_kg": "Weight (kg)",
    "indication": "Indication for Warfarin Treatment",
    "diabetes": "Diabetes",
    "heart_failure": "Congestive Heart Failure and/or Cardiomyopathy",
    "valve_replacement": "Valve Replacement",
    "aspirin": "Aspirin",
    "acetaminophen": "Acetaminophen or Paracetamol (Tylenol)",
    "simvastatin": "Simvastatin (Zocor)",
    "atorvastatin": "Atorvastatin (Lipitor)",
    "fluvastatin": "Fluvastatin (Lescol)",
    "lovastatin": "Lovastatin (Mevacor)",
    "pravastatin": "Pravastatin (Pravachol)",
    "rosuvastatin": "Rosuvastatin (Crestor)",
    "amiodarone": "Amiodarone (Cordarone)",
    "carbamazepine": "Carbamazepine (Tegretol)",
    "phenytoin": "Phenytoin (Dilantin)",
    "rifampin": "Rifampin or Rifampicin",
    "sulfonamide": "Sulfonamide Antibiotics",
    "macrolide": "Macrolide Antibiotics",
    "azole_antifungal": "Anti-fungal Azoles",
    "herbal_supplement": "Herbal Medications, Vitamins, Supplements",
    "target_inr": "Target INR",
    "stable_dose_reached": "Subject Reached Stable Dose of Warfarin",
    "dose_mg_week": "Therapeutic Dose of Warfarin",
    "smoker": "Current Smoker",
    "cyp2c9": "CYP2C9 consensus",
    "vkorc1_1639": "VKORC1 -1639 consensus",
    "vkorc1_497": "VKORC1 497 consensus",
    "vkorc1_1173": "VKORC1 1173 consensus",
    "vkorc1_1542": "VKORC1 1542 consensus",
    "vkorc1_3730": "VKORC1 3730 consensus",
    "vkorc1_2255": "VKORC1 2255 consensus",
    "vkorc1_4451": "VKORC1 -4451 consensus",
}

# indication code in the IWPC table -> flag column
INDICATIONS: dict[str, str] = {
    "1": "indication_dvt",
    "2": "indication_pe",
    "3": "indication_af",
    "4": "indication_heart_valve",
    "5": "indication_cardiomyopathy",
    "6": "indication_stroke",
    "7": "indication_orthopedic",
    "8": "indication_other",
}

ENZYME_INDUCERS = ("carbamazepine", "phenytoin", "rifampin")

# Units that the column dictionary must state for the columns that carry units.
EXPECTED_UNITS = {"Therapeutic Dose of Warfarin": "mg/week", "Height (cm)": "cm", "Weight (kg)": "kg"}


def read_iwpc_dictionary(path: str | Path) -> pd.DataFrame:
    """Read the IWPC column dictionary (``metadata.xls``) with xlrd.

    Returns a frame with columns ``name``, ``description``, ``data_type``, ``unit`` (stripped
    strings), one row per column of the patient table.
    """
    import xlrd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IWPC column dictionary {path} not found")
    sheet = xlrd.open_workbook(str(path)).sheet_by_index(0)
    header_row = next((row for row in range(sheet.nrows) if str(sheet.cell_value(row, 0)).strip() == "Name"), None)
    if header_row is None:
        raise ValueError(f"{path}: no header row starting with 'Name' found; is this the IWPC metadata workbook?")
    records = []
    for row in range(header_row + 1, sheet.nrows):
        values = [str(value).strip() for value in sheet.row_values(row)]
        if values[0]:
            records.append({"name": values[0], "description": values[1], "data_type": values[2], "unit": values[3]})
    return pd.DataFrame.from_records(records)


def check_units(dictionary: pd.DataFrame) -> None:
    """Raise ``ValueError`` unless the dictionary states the units this loader assumes."""
    units = dict(zip(dictionary["name"], dictionary["unit"]))
    for column, unit in EXPECTED_UNITS.items():
        if units.get(column) != unit:
            raise ValueError(f"the IWPC column dictionary gives unit {units.get(column)!r} for {column!r}; this loader assumes {unit!r}")


def age_in_decades(age_bin: object) -> float:
    """Map an IWPC age bin (``'70 - 79'``, ``'90+'``) to the decade number used by IWPC (7, 9)."""
    if is_missing(age_bin):
        return np.nan
    match = re.match(r"^\s*(\d+)", str(age_bin))
    if match is None:
        raise ValueError(f"unreadable IWPC age bin {age_bin!r}; expected e.g. '70 - 79' or '90+'")
    return float(int(match.group(1)) // 10)


def _flag_values(series: pd.Series) -> pd.Series:
    """Read 1/0/blank columns as 1.0/0.0/NaN."""
    return pd.to_numeric(series.where(~series.map(is_missing)), errors="raise").astype(np.float64)


def _enzyme_inducer(frame: pd.DataFrame) -> pd.Series:
    """1 if any enzyme inducer is taken, 0 if all are known and not taken, NaN otherwise."""
    values = frame[list(ENZYME_INDUCERS)]
    any_taken = (values == 1).any(axis=1)
    all_known = values.notna().all(axis=1)
    return pd.Series(np.where(any_taken, 1.0, np.where(all_known, 0.0, np.nan)), index=frame.index)


def _indication_flags(indication: pd.Series) -> pd.DataFrame:
    """Return one 0/1 column per indication code, NaN where the indication is unknown."""
    unknown = indication.map(is_missing).to_numpy(dtype=bool)
    codes = indication.astype(str).map(lambda text: set(re.findall(r"\d", text)))
    flags = {}
    for code, name in INDICATIONS.items():
        present = codes.map(lambda found, code=code: code in found).to_numpy(dtype=np.float64)
        flags[name] = np.where(unknown, np.nan, present)
    return pd.DataFrame(flags, index=indication.index)


def impute_vkorc1_1639(frame: pd.DataFrame) -> tuple[pd.Series, int]:
    """Fill missing VKORC1 -1639 G>A (rs9923231) calls from SNPs in linkage disequilibrium with it.

    Rules applied in this order, each only where -1639 is still missing:

    1. race not Black and not unknown: 2255 C>T (rs2359612) C/C, C/T, T/T -> G/G, A/G, A/A;
    2. any race: 1173 C>T (rs9934438) C/C, C/T, T/T -> G/G, A/G, A/A;
    3. race not Black and not unknown: 1542 G>C (rs8050894) G/G, C/G, C/C -> G/G, A/G, A/A.

    NOTE: these are the rules of the IWPC supplementary appendix as used by public
    reimplementations; the appendix itself was not consulted here. Returns the filled column
    and the number of imputed calls.
    """
    result = frame["vkorc1_1639"].copy()
    race = frame[TASK_COLUMN].astype(str)
    linkage_ok = ~race.isin(["Black or African American", "Unknown", UNKNOWN_RACE, ""]) & ~frame[TASK_COLUMN].map(is_missing)
    everyone = pd.Series(True, index=frame.index)
    rules = (
        ("vkorc1_2255", {"C/C": "G/G", "C/T": "A/G", "T/T": "A/A"}, linkage_ok),
        ("vkorc1_1173", {"C/C": "G/G", "C/T": "A/G", "T/T": "A/A"}, everyone),
        ("vkorc1_1542", {"G/G": "G/G", "C/G": "A/G", "C/C": "A/A"}, linkage_ok),
    )
    imputed = 0
    for column, mapping, eligible in rules:
        missing = result.map(is_missing)
        proxy = frame[column].astype(str).str.strip().map(mapping)
        fill = missing & eligible & proxy.notna()
        result[fill] = proxy[fill]
        imputed += int(fill.sum())
    return result, imputed


def load_iwpc(
    path: str | Path,
    metadata: str | Path | None = None,
    tasks: Sequence[str] = IWPC_TASKS,
    other_race: str = "exclude",
    stable_only: bool = True,
    impute_vkorc1: bool = True,
    require_dose: bool = True,
) -> PatientTable:
    """Load the IWPC warfarin table as a :class:`PatientTable` (task: race; dose: mg/week).

    ``metadata``: the column dictionary (``metadata.xls``); when given (or found next to the
    CSV) the units of dose, height and weight are checked against it. ``other_race``:
    ``exclude`` (default) or ``task`` (a task named ``Unknown race``). ``impute_vkorc1``: fill missing -1639 calls with
    :func:`impute_vkorc1_1639`. ``require_dose=False`` (prediction) keeps rows without a dose
    and does not apply ``stable_only``. Exclusion and imputation counts are in
    ``table.excluded`` and the log.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IWPC table {path} not found")
    if other_race not in ("exclude", "task"):
        raise ValueError(f"other_race must be 'exclude' or 'task', got {other_race!r}")
    metadata = Path(metadata) if metadata is not None else path.with_name("metadata.xls")
    if metadata.is_file():
        check_units(read_iwpc_dictionary(metadata))

    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    dose_header = IWPC_COLUMNS[DOSE_COLUMN]
    if not require_dose and dose_header not in raw.columns:
        raw[dose_header] = ""
    absent = [header for header in IWPC_COLUMNS.values() if header not in raw.columns]
    if absent:
        raise KeyError(f"{path} lacks IWPC columns {absent}; is this the IWPC warfarin table?")
    empty_rows = raw.apply(lambda column: column.str.strip().str.lower().isin(MISSING_TOKENS)).all(axis=1)
    raw = raw[~empty_rows]

    frame = pd.DataFrame({short: raw[header].str.strip() for short, header in IWPC_COLUMNS.items()}, index=raw.index)
    frame["age_decades"] = frame["age_bin"].map(age_in_decades)
    for column in ("height_cm", "weight_kg", "target_inr"):
        frame[column] = pd.to_numeric(frame[column].where(~frame[column].map(is_missing)), errors="raise")
    flag_columns = [
        "diabetes", "heart_failure", "valve_replacement", "aspirin", "acetaminophen", "simvastatin", "atorvastatin",
        "fluvastatin", "lovastatin", "pravastatin", "rosuvastatin", "amiodarone", "carbamazepine", "phenytoin",
        "rifampin", "sulfonamide", "macrolide", "azole_antifungal", "herbal_supplement", "smoker", "stable_dose_reached",
    ]  # fmt: skip
    for column in flag_columns:
        frame[column] = _flag_values(frame[column])
    frame["enzyme_inducer"] = _enzyme_inducer(frame)
    frame = frame.join(_indication_flags(frame["indication"]))
    frame["statin"] = (frame[["simvastatin", "atorvastatin", "fluvastatin", "lovastatin", "pravastatin", "rosuvastatin"]] == 1).any(axis=1).astype(np.float64)

    race_missing = frame[TASK_COLUMN].map(is_missing) | (frame[TASK_COLUMN] == "Unknown")
    kept_tasks = list(tasks)
    if other_race == "task":
        frame.loc[race_missing, TASK_COLUMN] = UNKNOWN_RACE
        kept_tasks.append(UNKNOWN_RACE)

    imputed = 0
    if impute_vkorc1:
        frame["vkorc1_1639"], imputed = impute_vkorc1_1639(frame)
        logger.info("imputed %d VKORC1 -1639 calls from linked SNPs", imputed)

    excluded: dict[str, int] = {}
    if stable_only and require_dose:
        unstable = frame["stable_dose_reached"] == 0
        if unstable.any():
            excluded["without a stable dose"] = int(unstable.sum())
        frame = frame[~unstable]
    table = prepare_table(frame, TASK_COLUMN, DOSE_COLUMN, ID_COLUMN, kept_tasks, require_dose=require_dose, source=str(path))
    table.excluded = {**excluded, **table.excluded}
    if imputed:
        table.frame.attrs["vkorc1_1639_imputed"] = imputed
    return table


def iwpc_features(extended: bool = True) -> FeatureSpec:
    """Return the IWPC feature set.

    With ``extended=False`` these are the inputs of the IWPC pharmacogenetic equation (age in
    decades, height, weight, CYP2C9 diplotype, VKORC1 -1639 call, amiodarone, enzyme inducers).
    ``extended=True`` adds sex, indication, comorbidities, further co-medications, smoking and
    target INR.
    """
    spec = FeatureSpec(
        numeric=["age_decades", "height_cm", "weight_kg"],
        diplotypes=["cyp2c9"],
        snps=["vkorc1_1639"],
        flags=["amiodarone", "enzyme_inducer"],
    )
    if extended:
        spec.numeric.append("target_inr")
        spec.categorical.append("sex")
        spec.flags += [
            "aspirin", "statin", "acetaminophen", "azole_antifungal", "sulfonamide", "macrolide", "herbal_supplement",
            "smoker", "diabetes", "heart_failure", "valve_replacement", *INDICATIONS.values(),
        ]  # fmt: skip
    return spec
