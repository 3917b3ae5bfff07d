"""gRPC edge: servicers that translate, the error table and the interceptor that applies it."""
