"""Training jobs: the state machine, the jobs API, attempts, and what trainers report."""
