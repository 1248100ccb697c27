"""Running jobs: the Orchestrator protocol and its backends (local workers; Temporal later)."""
