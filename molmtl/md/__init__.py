"""molmtl.md."""
