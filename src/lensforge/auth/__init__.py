"""Accounts and access: sign-up, login, tokens, API keys, and the one policy module."""
