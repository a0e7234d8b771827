"""Captures: the line format, offline replay through an adapter, the replay server and the loopback venue stage."""
