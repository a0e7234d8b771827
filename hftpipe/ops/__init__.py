"""Operating a running pipeline from outside: exporters and views built on the control file.

Everything here reads what :mod:`hftpipe.runtime.report` reads (the control file and
ring headers, attached read-only), so watching a pipeline costs its stages nothing.
"""
