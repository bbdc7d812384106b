"""molmtl.data."""
