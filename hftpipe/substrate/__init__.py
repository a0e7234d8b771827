"""The substrate: shared-memory segments, SPSC rings, idle strategies, counters, histograms, the control file.

Knows nothing of records' meaning or of stages; everything above is built on it.
"""
