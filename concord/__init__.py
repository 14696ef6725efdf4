"""Concord: coordinated border management hub."""

__version__ = "0.1.0"
