"""Helpers that several test modules share (fixtures live in conftest.py)."""
