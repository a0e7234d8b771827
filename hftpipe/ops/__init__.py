"""Operations: running a pipeline on a server and watching it from outside.

Units for systemd and the host check (doctor) read configs and placement; the
exporter reads what :mod:`hftpipe.runtime.report` reads (the control file and
ring headers, attached read-only), so watching a pipeline costs its stages
nothing. Above the runtime, below the CLI; nothing in the runtime imports it.
"""
