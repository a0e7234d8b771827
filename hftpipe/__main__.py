"""``python -m hftpipe`` is the ``hftpipe`` command (how the supervisor starts stages)."""

from hftpipe.cli import main

main()
