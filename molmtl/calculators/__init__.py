"""molmtl.calculators."""
