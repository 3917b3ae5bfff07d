"""The server-side cache tier: versioned entries in Redis (or an in-process stand-in with the same rules)."""
