"""End-to-end workflows built from the molmtl commands."""
