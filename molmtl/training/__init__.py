"""molmtl.training."""
