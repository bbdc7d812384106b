"""``molmtl protein``: secondary structure and solvent accessibility from sequence.

Sub-commands:

* ``labels PDB_DIR -o labels.csv``: derive SS8, SS3, ASA and RSA from structure files.
* ``train CONFIG.yaml``: train a model on the multi-task trainer.
* ``eval MODEL DATA``: Q3, Q8, SOV3, per-class precision and recall, RSA r and MAE, exposure accuracy.
* ``predict MODEL seqs.fasta -o out.csv``: per-residue SS3 and SS8 with probabilities, RSA, exposure.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``labels``, ``train``, ``eval`` and ``predict`` sub-commands."""
    commands = parser.add_subparsers(dest="protein_command", metavar="SUBCOMMAND")

    labels = commands.add_parser("labels", help="derive per-residue labels from PDB or mmCIF files")
    labels.add_argument("structures", type=Path, help="folder of .pdb/.ent/.cif files, or one structure file")
    labels.add_argument("-o", "--output", type=Path, required=True, help="output CSV (id,input,dssp3,dssp8,rsa,asa)")
    labels.add_argument("--skip-errors", action="store_true",
                        help="log and skip files that cannot be read instead of stopping at the first one")

    train = commands.add_parser("train", help="train a model from a YAML config")
    train.add_argument("config", type=Path, help="YAML config (see molmtl.protein.config)")
    train.add_argument("--run-dir", type=Path, default=None, help="override the config's run_dir")

    evaluate = commands.add_parser("eval", help="evaluate a model on labelled chains")
    evaluate.add_argument("model", type=Path, help="model file written by training (model.pt)")
    evaluate.add_argument("data", type=Path, help="labelled data: .csv, .dssp, or a folder of .dssp files")
    evaluate.add_argument("--mask-columns", nargs="*", default=["disorder"],
                          help="CSV 0/1 columns whose zeros mark residues without labels (default: disorder)")
    evaluate.add_argument("-o", "--output", type=Path, default=None, help="write the metrics as JSON here")

    predict = commands.add_parser("predict", help="predict per-residue SS3, SS8, RSA and exposure")
    predict.add_argument("model", type=Path, help="model file written by training (model.pt)")
    predict.add_argument("fasta", type=Path, help="FASTA file of sequences")
    predict.add_argument("-o", "--output", type=Path, required=True, help="output CSV, one row per residue")
    predict.add_argument("--batch-size", type=int, default=16, help="windows per forward pass (default 16)")


def run(args: argparse.Namespace) -> int:
    """Run the chosen sub-command; return 0 on success and 2 on invalid input."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    handlers = {"labels": _labels, "train": _train, "eval": _evaluate, "predict": _predict}
    handler = handlers.get(getattr(args, "protein_command", None))
    if handler is None:
        print("molmtl protein: choose a sub-command: labels, train, eval or predict", file=sys.stderr)
        return 2
    try:
        return handler(args)
    except (ValueError, FileNotFoundError, NotADirectoryError) as error:
        print(f"molmtl protein {args.protein_command}: error: {error}", file=sys.stderr)
        return 2


def _labels(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from molmtl.protein.readers import write_csv
    from molmtl.protein.structure_labels import find_structures, labels_from_structure

    files = [args.structures] if args.structures.is_file() else find_structures(args.structures)
    records, failed = [], []
    for file in tqdm(files, desc="labels", unit="file", disable=len(files) < 2):
        try:
            records.extend(labels_from_structure(file))
        except ValueError as error:
            if not args.skip_errors:
                raise
            logging.warning("skipped %s: %s", file, error)
            failed.append(file)
    if not records:
        raise ValueError(f"no chains could be labelled from {args.structures}")
    write_csv(records, args.output)
    residues = sum(len(record) for record in records)
    print(f"wrote {len(records)} chains ({residues} residues) to {args.output}; {len(failed)} files skipped")
    return 0


def _train(args: argparse.Namespace) -> int:
    from molmtl.protein.config import ProteinTrainConfig
    from molmtl.protein.training import train_from_config

    config = ProteinTrainConfig.from_yaml(args.config)
    if args.run_dir is not None:
        config.run_dir = args.run_dir
    train_from_config(config)
    print(f"model written to {config.run_dir / 'model.pt'}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from molmtl.atomic_io import atomic_write_text
    from molmtl.protein.inference import evaluate_predictions, predict_records
    from molmtl.protein.model import load_protein_model
    from molmtl.protein.readers import read_labels

    model = load_protein_model(args.model)
    records = read_labels(args.data, mask_columns=tuple(args.mask_columns))
    result = evaluate_predictions(records, predict_records(model, records), model.config.buried_threshold)
    print(_format_metrics(result))
    if args.output is not None:
        atomic_write_text(json.dumps(result, indent=2), args.output)
    return 0


def _format_metrics(result: dict) -> str:
    lines = [f"chains {result['chains']}, residues with SS3 {result['residues_ss3']}, with RSA {result['residues_rsa']}"]
    for key in ("q3", "q8", "sov3", "rsa_pearson_r", "rsa_mae", "buried_exposed_accuracy"):
        lines.append(f"{key:24s} {result[key]:.4f}")
    for group in ("ss3_classes", "ss8_classes"):
        for state, values in result[group].items():
            lines.append(
                f"{group[:3]} {state}  precision {values['precision']:.3f}  recall {values['recall']:.3f}  "
                f"support {int(values['support'])}"
            )
    return "\n".join(lines)


def _predict(args: argparse.Namespace) -> int:
    from molmtl.protein.inference import predict_records, write_predictions_csv
    from molmtl.protein.model import load_protein_model
    from molmtl.protein.readers import read_fasta
    from molmtl.protein.record import ProteinRecord

    model = load_protein_model(args.model)
    records = [ProteinRecord(name, sequence) for name, sequence in read_fasta(args.fasta)]
    predictions = predict_records(model, records, batch_size=args.batch_size)
    write_predictions_csv(predictions, args.output)
    print(f"wrote predictions for {len(records)} sequences to {args.output}")
    return 0
