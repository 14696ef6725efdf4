"""Tamper-evident log: every write and every cross-agency read, as leaves of an RFC 6962 Merkle tree."""
