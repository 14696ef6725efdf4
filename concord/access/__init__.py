"""Identities, tokens, roles, and the one policy decision point."""
