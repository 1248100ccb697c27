"""Datasets: imports with validation reports, immutable versions, splits, browsing and export."""
