"""Model work on the user's side: exports (with verification) and inference runs, each done by a
job of kind `export` or `inference` (see docs/inference-and-export.md)."""
