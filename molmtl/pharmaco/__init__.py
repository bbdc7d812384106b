"""molmtl.pharmaco."""
