"""Shared test helpers (pure worlds, sandbox-backed worlds, fake Lambda context)."""
