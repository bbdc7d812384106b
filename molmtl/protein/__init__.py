"""molmtl.protein."""
