"""The current organization and its members."""
