"""Use cases: reads, and writes that validate, commit and report domain errors."""
