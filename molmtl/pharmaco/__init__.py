"""Multi-task pharmacogenomic dose models: shared effects ``w`` plus task-specific ``v_t``.

Typical use::

    from molmtl.pharmaco import FitOptions, fit_dose_model, iwpc_features, load_iwpc

    table = load_iwpc("warfarin.csv")                       # tasks: race groups, dose in mg/week
    model = fit_dose_model(table, iwpc_features(), FitOptions(mode="multitask"))
    doses = model.predict(table.frame, level=0.9)           # predicted_dose, lower, upper

The neural variant (shared nonlinear layers, trained with :class:`molmtl.training.Trainer`)
is in :mod:`molmtl.pharmaco.torch_model`; it imports torch.
"""

from molmtl.pharmaco.encoding import EncodingReport, FeatureSpec, TabularEncoder
from molmtl.pharmaco.fit import FitOptions, fit_dose_model
from molmtl.pharmaco.interpret import coefficient_table, plot_coefficients
from molmtl.pharmaco.iwpc import iwpc_features, load_iwpc
from molmtl.pharmaco.iwpc_equation import IWPCEquation
from molmtl.pharmaco.linear import SharedSpecificRidge
from molmtl.pharmaco.metrics import dose_metrics
from molmtl.pharmaco.model import DoseModel
from molmtl.pharmaco.table import PatientTable, read_patient_csv

__all__ = [
    "DoseModel",
    "EncodingReport",
    "FeatureSpec",
    "FitOptions",
    "IWPCEquation",
    "PatientTable",
    "SharedSpecificRidge",
    "TabularEncoder",
    "coefficient_table",
    "dose_metrics",
    "fit_dose_model",
    "iwpc_features",
    "load_iwpc",
    "plot_coefficients",
    "read_patient_csv",
]
