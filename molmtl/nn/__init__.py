"""molmtl.nn."""
