"""Identities and what they may call: bearer tokens (JWT) verified with PyJWT (``tokens``), and the one
table from methods to scopes (``scopes``). The interceptor that applies them is ``api.auth``."""
