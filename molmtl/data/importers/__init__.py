"""molmtl.data.importers."""
