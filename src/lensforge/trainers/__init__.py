"""Trainer plugins: manifests, the registry, and the built-in trainers.

The server reads only manifests (JSON); a trainer's code runs in its own process, usually in its
own environment, and talks to the server through `lensforge.sdk` over HTTP.
"""
