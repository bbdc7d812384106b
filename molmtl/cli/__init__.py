"""molmtl.cli."""
