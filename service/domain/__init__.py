"""Plain values and domain errors. Imports nothing of ours and no framework."""
