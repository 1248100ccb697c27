"""The Temporal backend: each job is a workflow (validate → prepare → run the trainer →
finalize → clean up) whose activities run on `lensforge worker --orchestrator temporal`
processes, one task queue per resource pool. See docs/deployment.md."""
