"""hftpipe: CPU-pinned stage processes passing fixed-layout records through shared-memory rings."""

__version__ = "0.1.0"
