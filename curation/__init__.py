"""Curation stages: extract, generate, validate, split, report, and the pattern rules."""
