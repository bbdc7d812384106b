"""molmtl.training.weighting."""
