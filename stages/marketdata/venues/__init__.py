"""Venue adapters: raw venue messages in, book and trade events out; pure (no IO), one package per venue."""
