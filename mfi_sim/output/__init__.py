"""Outputs: pure functions of a Result (JSON, terminal text) and the writers that put them on disk."""
