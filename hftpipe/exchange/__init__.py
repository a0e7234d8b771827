"""The exchange side's shared parts: record meanings, settings and the stage topology."""
