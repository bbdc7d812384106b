"""molmtl.spectra."""
