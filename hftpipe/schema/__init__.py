"""The shared data model: record layouts, fixed point, instruments and books, one module per domain.

:data:`SPECS` maps every :class:`~hftpipe.schema.records.RecordType` to its
:class:`~hftpipe.schema.records.RecordSpec`, whichever domain declares it.
"""

from __future__ import annotations

from typing import Final

from hftpipe.schema import exchange, marketdata, trading
from hftpipe.schema.records import PROBE, RecordSpec, RecordType

SPECS: Final[dict[RecordType, RecordSpec]] = {
    spec.rtype: spec for spec in (PROBE, *marketdata.SPECS, *trading.SPECS, *exchange.SPECS)
}
assert set(SPECS) == set(RecordType), "every record type is declared by one domain module"
