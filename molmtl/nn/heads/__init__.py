"""molmtl.nn.heads."""
