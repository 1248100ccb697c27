"""Lensforge: a self-hostable platform for training vision models."""

__version__ = "0.1.0"
