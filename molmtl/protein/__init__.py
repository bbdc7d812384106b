"""molmtl.protein: secondary structure and solvent accessibility from sequence.

One shared sequence encoder (BiLSTM or convolution + Transformer) with SS8, SS3, RSA and
buried/exposed heads, trained on the generic multi-task trainer of :mod:`molmtl.training`.

Typical use::

    from molmtl.protein import read_csv, read_labels, ProteinModelConfig, train_protein_model
    from molmtl.protein import predict_records, evaluate_predictions

    train = read_csv("CB513.csv") + read_labels("dssp_folder/")
    model, history = train_protein_model(train, None, ProteinModelConfig(), {"ss8": 1.0, "rsa": 1.0})
    predictions = predict_records(model, train[:5])
"""

from molmtl.protein.alphabet import encode_sequence, normalize_sequence
from molmtl.protein.config import ProteinTrainConfig, split_by_chain
from molmtl.protein.dataset import ProteinBatch, ProteinDataset, collate_proteins, stitch_windows, window_starts
from molmtl.protein.inference import ChainPrediction, evaluate_predictions, predict_records, write_predictions_csv
from molmtl.protein.labels import MAX_ASA_TIEN2013, SS3_STATES, SS8_STATES, SS8_TO_SS3, relative_accessibility
from molmtl.protein.model import ProteinModel, ProteinModelConfig, load_protein_model, save_protein_model
from molmtl.protein.readers import read_csv, read_dssp, read_fasta, read_fasta_with_labels, read_labels, write_csv
from molmtl.protein.record import ProteinRecord
from molmtl.protein.structure_labels import labels_from_structure
from molmtl.protein.tasks import BuriedExposedTask, ProteinProblem, RSATask, SS3Task, SS8Task, build_tasks
from molmtl.protein.training import train_from_config, train_protein_model

__all__ = [
    "MAX_ASA_TIEN2013",
    "SS3_STATES",
    "SS8_STATES",
    "SS8_TO_SS3",
    "BuriedExposedTask",
    "ChainPrediction",
    "ProteinBatch",
    "ProteinDataset",
    "ProteinModel",
    "ProteinModelConfig",
    "ProteinProblem",
    "ProteinRecord",
    "ProteinTrainConfig",
    "RSATask",
    "SS3Task",
    "SS8Task",
    "build_tasks",
    "collate_proteins",
    "encode_sequence",
    "evaluate_predictions",
    "labels_from_structure",
    "load_protein_model",
    "normalize_sequence",
    "predict_records",
    "read_csv",
    "read_dssp",
    "read_fasta",
    "read_fasta_with_labels",
    "read_labels",
    "relative_accessibility",
    "save_protein_model",
    "split_by_chain",
    "stitch_windows",
    "train_from_config",
    "train_protein_model",
    "window_starts",
    "write_csv",
    "write_predictions_csv",
]
