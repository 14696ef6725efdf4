"""Routing rules: which agencies the law engages for a declaration, and why."""
