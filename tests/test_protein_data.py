"""Parsing, the non-standard residue policy, label masking and windowing of molmtl.protein."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from molmtl.protein.alphabet import ONE_HOT_SIZE, STANDARD_AMINO_ACIDS, encode_sequence, normalize_sequence
from molmtl.protein.dataset import ProteinDataset, collate_proteins, stitch_windows, window_starts
from molmtl.protein.labels import MISSING, SS3_STATES, SS8_STATES, SS8_TO_SS3, relative_accessibility, ss8_indices
from molmtl.protein.readers import read_csv, read_dssp, read_fasta, read_fasta_with_labels, read_labels, write_csv
from molmtl.protein.record import ProteinRecord


@pytest.fixture(scope="module")
def cb513(shared_data: Path) -> Path:
    return shared_data / "protein_ss_rsa" / "cb513_netsurfp_csv" / "CB513.csv"


@pytest.fixture(scope="module")
def ts50(shared_data: Path) -> Path:
    return shared_data / "protein_ss_rsa" / "ts50_pdb_dssp"


def test_cb513_csv_counts(cb513: Path) -> None:
    records = read_csv(cb513)
    assert len(records) == 511
    assert sum(len(record) for record in records) == 144011
    # 3525 residues are flagged as disordered (no coordinates) and lose their labels.
    assert sum(record.label_count("ss8") for record in records) == 144011 - 3525
    assert all(record.rsa is None for record in records)


def test_cb513_ss3_matches_mapping(cb513: Path) -> None:
    records = read_csv(cb513, mask_columns=())
    for record in records:
        derived = np.array([SS3_STATES.index(SS8_TO_SS3[SS8_STATES[i]]) for i in record.ss8])
        # The file's own dssp3 column is read independently of dssp8.
        np.testing.assert_array_equal(derived, record.ss3)


def test_csv_cb513_mask_column(cb513: Path) -> None:
    records = read_csv(cb513, mask_columns=("disorder", "cb513_mask"))
    assert sum(record.label_count("ss3") for record in records) == 83427


def test_dssp_reader_ts50(ts50: Path) -> None:
    record = read_dssp(ts50 / "dssp" / "1ahsA.dssp")[0]
    assert len(record) == 126
    assert record.sequence.startswith("TGPYAGAVEV")
    assert record.ss8_string().startswith("CCTTTTCSCC")
    assert record.asa[0] == 163.0
    assert record.rsa[0] == pytest.approx(163.0 / 172.0)  # Thr, Tien et al. 2013
    records = read_labels(ts50 / "dssp")
    assert len(records) == 50
    assert sum(len(r) for r in records) == 6860


def test_dssp_reader_breaks_and_cystines(tmp_path: Path) -> None:
    header = "  #  RESIDUE AA STRUCTURE BP1 BP2  ACC     N-H-->O    O-->H-N    N-H-->O    O-->H-N    TCO  KAPPA ALPHA  PHI   PSI    X-CA   Y-CA   Z-CA\n"
    rows = [
        "    1    1 A a  E     -     0   0   40      0, 0.0     0, 0.0     0, 0.0     0, 0.0   0.000 360.0 360.0 360.0 360.0    0.0    0.0    0.0\n",
        "    2        !              0   0    0      0, 0.0     0, 0.0     0, 0.0     0, 0.0   0.000 360.0 360.0 360.0 360.0    0.0    0.0    0.0\n",
        "    3    5 A G              0   0  200      0, 0.0     0, 0.0     0, 0.0     0, 0.0   0.000 360.0 360.0 360.0 360.0    0.0    0.0    0.0\n",
    ]
    path = tmp_path / "toy.dssp"
    path.write_text("==== DSSP ====\n" + header + "".join(rows))
    record = read_dssp(path)[0]
    assert record.sequence == "CG"
    assert record.ss8_string() == "EC"
    assert record.rsa[1] == 1.0  # 200 / 104 is clipped


def test_fasta_with_label_files(tmp_path: Path) -> None:
    (tmp_path / "s.fa").write_text(">a desc\nACDE\nFG\n>b\nkkk*\n")
    (tmp_path / "s.ss8").write_text(">a\nHHGE-?\n")
    (tmp_path / "s.rsa").write_text(">b\n0.1 nan\n0.9\n")
    records = read_fasta_with_labels(tmp_path / "s.fa", ss8=tmp_path / "s.ss8", rsa=tmp_path / "s.rsa")
    first, second = records
    assert first.sequence == "ACDEFG"
    assert first.ss8_string() == "HHGEC?"
    assert first.ss3_string() == "HHHEC?"
    assert first.rsa is None
    assert second.sequence == "KKK"
    assert second.ss8 is None
    assert np.isnan(second.rsa[1])
    assert read_fasta(tmp_path / "s.fa")[0] == ("a", "ACDEFG")


def test_fasta_label_id_mismatch(tmp_path: Path) -> None:
    (tmp_path / "s.fa").write_text(">a\nACDE\n")
    (tmp_path / "s.ss8").write_text(">z\nHHHH\n")
    with pytest.raises(ValueError, match="not in"):
        read_fasta_with_labels(tmp_path / "s.fa", ss8=tmp_path / "s.ss8")


def test_label_length_mismatch() -> None:
    with pytest.raises(ValueError, match="one entry per residue"):
        ProteinRecord("x", "ACDE", ss8=ss8_indices("HHH"))


def test_invalid_ss8_letter() -> None:
    with pytest.raises(ValueError, match="invalid 8-state label 'Q'"):
        ss8_indices("HHQ")


def test_csv_round_trip(tmp_path: Path) -> None:
    record = ProteinRecord("p1", "ACDX", ss8=ss8_indices("HGE?"), rsa=np.array([0.1, np.nan, 0.5, np.nan]))
    write_csv([record], tmp_path / "labels.csv")
    again = read_csv(tmp_path / "labels.csv")[0]
    assert again.id == "p1"
    assert again.ss8_string() == "HGE?"
    assert again.ss3_string() == "HHE?"
    np.testing.assert_allclose(again.rsa, record.rsa, atol=1e-4)


def test_standard_residue_one_hot() -> None:
    features = encode_sequence(STANDARD_AMINO_ACIDS, physchem=False)
    np.testing.assert_array_equal(features[:, :20], np.eye(20))
    assert features[:, 20].sum() == 0


def test_nonstandard_residue_policy() -> None:
    features = encode_sequence("xUBZJOa", physchem=True)
    index = {letter: i for i, letter in enumerate(STANDARD_AMINO_ACIDS)}
    unknown, sec, asx, glx, xle, pyl, ala = features
    assert unknown[ONE_HOT_SIZE - 1] == 1.0
    assert unknown[:20].sum() == 0
    np.testing.assert_allclose(unknown[ONE_HOT_SIZE:], 0.0)  # mean of the standardised scales
    assert sec[index["C"]] == 1.0
    assert asx[index["D"]] == 0.5
    assert asx[index["N"]] == 0.5
    assert glx[index["E"]] == 0.5
    assert glx[index["Q"]] == 0.5
    assert xle[index["I"]] == 0.5
    assert xle[index["L"]] == 0.5
    assert pyl[index["K"]] == 1.0
    assert ala[index["A"]] == 1.0  # lower case is the same residue
    np.testing.assert_allclose(features[:, :ONE_HOT_SIZE].sum(axis=1), 1.0)


def test_invalid_sequence_characters() -> None:
    assert normalize_sequence("acd*") == "ACD"
    with pytest.raises(ValueError, match="invalid character '-' at residue 3"):
        normalize_sequence("AC-D")
    with pytest.raises(ValueError, match="empty"):
        normalize_sequence("*")


def test_rsa_missing_for_unknown_residues() -> None:
    rsa = relative_accessibility(np.array([64.5, 50.0, 50.0, 50.0]), "AXBU")
    assert rsa[0] == pytest.approx(0.5)
    assert np.isnan(rsa[1])
    assert np.isnan(rsa[2])
    assert rsa[3] == pytest.approx(50.0 / 167.0)


def test_batch_masks_missing_labels() -> None:
    with_ss = ProteinRecord("ss_only", "ACDEF", ss8=ss8_indices("HH?EE"))
    with_rsa = ProteinRecord("rsa_only", "GHI", rsa=np.array([0.2, np.nan, 0.8]))
    dataset = ProteinDataset([with_ss, with_rsa], window=16)
    batch = collate_proteins([dataset[0], dataset[1]])
    assert batch.features.shape[:2] == (2, 5)
    assert batch.padding_mask.tolist() == [[True] * 5, [True] * 3 + [False] * 2]
    assert batch.ss8[0].tolist() == [0, 0, MISSING, 3, 3]
    assert batch.ss8[1].tolist() == [MISSING] * 5
    assert batch.rsa_mask.tolist() == [[False] * 5, [True, False, True, False, False]]
    assert dataset.label_count("ss8") == 4
    assert dataset.label_count("rsa") == 2


def test_window_starts_cover_chain() -> None:
    assert window_starts(10, 16, 8) == [0]
    starts = window_starts(100, 32, 16)
    assert starts[0] == 0
    assert starts[-1] == 100 - 32
    covered = np.zeros(100, bool)
    for start in starts:
        covered[start:start + 32] = True
    assert covered.all()
    with pytest.raises(ValueError):
        window_starts(10, 8, 9)


def test_long_chain_windows_and_stitching() -> None:
    length, window, stride = 70, 20, 10
    record = ProteinRecord("long", "A" * length, rsa=np.linspace(0, 1, length))
    dataset = ProteinDataset([record], window=window, stride=stride)
    samples = [dataset[i] for i in range(len(dataset))]
    assert [s.start for s in samples] == window_starts(length, window, stride)
    # Windows carry their slice of the labels; stitching returns the original order.
    stitched = stitch_windows(length, window, stride, [s.rsa for s in samples])
    np.testing.assert_allclose(stitched, record.rsa)
    # Each residue comes from the window where it is most central.
    owner = stitch_windows(length, window, stride, [np.full(window, i) for i in range(len(samples))])
    assert owner[0] == 0
    assert owner[-1] == len(samples) - 1
    assert owner[24] == 1  # 5 residues from an edge of [10, 30), 4 from an edge of [20, 40)
    assert owner[25] == 2  # 4 residues from an edge of [10, 30), 5 from an edge of [20, 40)
    assert torch.is_tensor(collate_proteins(samples).features)
