"""Deployments on the API server's side: the control plane of serving (docs/serving.md)."""
