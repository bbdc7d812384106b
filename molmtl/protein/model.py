"""Sequence model: a shared per-residue encoder with SS8, SS3, RSA and buried/exposed heads.

Encoders (``ProteinModelConfig.encoder``):

* ``"bilstm"``: a linear input projection, then a stack of bidirectional LSTM layers.
* ``"conv_transformer"``: a stack of residual 1D convolutions (local context, and the only
  source of order information, since no positional encoding is added) followed by Transformer
  encoder layers with padding masks.

Heads on the shared per-residue representation:

* ``ss8_logits`` [B, L, 8] over :data:`~molmtl.protein.labels.SS8_STATES`.
* ``ss3_logits`` [B, L, 3]: with ``ss3_head="derived"`` the log of the summed SS8 probabilities
  of each 3-state class (H,G,I->H; E,B->E; T,S,C->C), so SS3 stays consistent with SS8; with
  ``"own"`` a separate linear head.
* ``rsa`` [B, L] in [0, 1] through a sigmoid.
* ``exposed_logit`` [B, L]: logit of the residue being exposed, i.e. RSA >= ``buried_threshold``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from molmtl.protein.alphabet import feature_size
from molmtl.protein.labels import SS8_TO_SS3_INDEX

ENCODERS = ("bilstm", "conv_transformer")


@dataclass
class ProteinModelConfig:
    """Hyperparameters of :class:`ProteinModel`.

    ``window`` is the context in residues: longer chains are split into overlapping windows
    (see :mod:`molmtl.protein.dataset`). ``buried_threshold`` is the RSA below which a residue
    counts as buried (0.25 is common, NetSurfP-2.0 uses 0.25).
    """

    encoder: str = "bilstm"
    physchem: bool = True
    hidden: int = 128
    layers: int = 2
    dropout: float = 0.1
    conv_layers: int = 2
    kernel_size: int = 9
    heads: int = 4
    ss3_head: str = "derived"
    buried_threshold: float = 0.25
    window: int = 512
    stride: int | None = None

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {ENCODERS}")
        if self.ss3_head not in ("derived", "own"):
            raise ValueError(f"ss3_head must be 'derived' or 'own', got {self.ss3_head!r}")
        if not 0.0 < self.buried_threshold < 1.0:
            raise ValueError(f"buried_threshold must lie in (0, 1), got {self.buried_threshold}")
        if self.encoder == "conv_transformer" and self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that outputs stay aligned, got {self.kernel_size}")
        if self.window < 8:
            raise ValueError(f"window must be at least 8 residues, got {self.window}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ProteinModelConfig":
        """Build a config from a mapping, rejecting unknown keys with the list of valid ones."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model options {unknown}; valid options are {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a plain dictionary."""
        return asdict(self)


class BiLSTMEncoder(nn.Module):
    """Input projection followed by bidirectional LSTM layers; output width ``hidden``."""

    def __init__(self, config: ProteinModelConfig, in_features: int) -> None:
        super().__init__()
        self.projection = nn.Linear(in_features, config.hidden)
        self.lstm = nn.LSTM(
            config.hidden,
            config.hidden // 2,
            num_layers=config.layers,
            bidirectional=True,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.output = nn.LayerNorm(config.hidden)

    def forward(self, features: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        lengths = padding_mask.sum(dim=1).clamp(min=1).cpu()
        hidden = torch.relu(self.projection(features))
        packed = nn.utils.rnn.pack_padded_sequence(hidden, lengths, batch_first=True, enforce_sorted=False)
        encoded, _ = self.lstm(packed)
        encoded, _ = nn.utils.rnn.pad_packed_sequence(encoded, batch_first=True, total_length=features.shape[1])
        return self.output(encoded)


class ConvBlock(nn.Module):
    """Residual 1D convolution over residues that keeps padded positions at zero."""

    def __init__(self, width: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.convolution = nn.Conv1d(width, width, kernel_size, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        update = self.convolution(hidden.transpose(1, 2)).transpose(1, 2)
        hidden = self.norm(hidden + self.dropout(torch.relu(update)))
        return hidden * padding_mask.unsqueeze(-1)


class ConvTransformerEncoder(nn.Module):
    """Input projection, residual convolutions, then Transformer encoder layers."""

    def __init__(self, config: ProteinModelConfig, in_features: int) -> None:
        super().__init__()
        self.projection = nn.Linear(in_features, config.hidden)
        self.convolutions = nn.ModuleList(
            ConvBlock(config.hidden, config.kernel_size, config.dropout) for _ in range(config.conv_layers)
        )
        layer = nn.TransformerEncoderLayer(
            config.hidden, config.heads, dim_feedforward=2 * config.hidden, dropout=config.dropout,
            batch_first=True, norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.output = nn.LayerNorm(config.hidden)

    def forward(self, features: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.projection(features) * padding_mask.unsqueeze(-1)
        for block in self.convolutions:
            hidden = block(hidden, padding_mask)
        hidden = self.transformer(hidden, src_key_padding_mask=~padding_mask)
        return self.output(hidden)


class ProteinModel(nn.Module):
    """Shared sequence encoder with SS8, SS3, RSA and buried/exposed heads (see module docstring)."""

    def __init__(self, config: ProteinModelConfig) -> None:
        super().__init__()
        self.config = config
        in_features = feature_size(config.physchem)
        encoder_class = BiLSTMEncoder if config.encoder == "bilstm" else ConvTransformerEncoder
        self.encoder = encoder_class(config, in_features)
        self.dropout = nn.Dropout(config.dropout)
        self.ss8_head = nn.Linear(config.hidden, 8)
        self.ss3_head = nn.Linear(config.hidden, 3) if config.ss3_head == "own" else None
        self.rsa_head = nn.Linear(config.hidden, 1)
        self.exposed_head = nn.Linear(config.hidden, 1)
        self.register_buffer("ss8_to_ss3", torch.as_tensor(SS8_TO_SS3_INDEX), persistent=False)

    def forward(self, features: torch.Tensor, padding_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return the head outputs for ``features`` [B, L, F] and ``padding_mask`` [B, L] (True = residue)."""
        hidden = self.dropout(self.encoder(features, padding_mask))
        ss8_logits = self.ss8_head(hidden)
        if self.ss3_head is None:
            log_probabilities = torch.log_softmax(ss8_logits, dim=-1)
            groups = [log_probabilities[..., self.ss8_to_ss3 == state] for state in range(3)]
            ss3_logits = torch.stack([torch.logsumexp(group, dim=-1) for group in groups], dim=-1)
        else:
            ss3_logits = self.ss3_head(hidden)
        return {
            "ss8_logits": ss8_logits,
            "ss3_logits": ss3_logits,
            "rsa": torch.sigmoid(self.rsa_head(hidden).squeeze(-1)),
            "exposed_logit": self.exposed_head(hidden).squeeze(-1),
            "padding_mask": padding_mask,
        }


MODEL_FORMAT = "molmtl.protein/1"


def save_protein_model(model: ProteinModel, path: str | Path, metadata: dict[str, Any] | None = None) -> None:
    """Write ``model`` (config and weights) atomically to ``path``."""
    from molmtl.atomic_io import atomic_torch_save

    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    payload = {"format": MODEL_FORMAT, "config": model.config.to_dict(), "state_dict": state,
               "metadata": dict(metadata or {})}
    atomic_torch_save(payload, path)


def load_protein_model(path: str | Path, map_location: str | torch.device = "cpu") -> ProteinModel:
    """Load a model written by :func:`save_protein_model`; the model is returned in eval mode."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path} is not a molmtl protein model (expected format {MODEL_FORMAT!r})")
    model = ProteinModel(ProteinModelConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["state_dict"])
    model.metadata = payload.get("metadata", {})
    return model.eval()
