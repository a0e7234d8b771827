"""Stage classes that moved when market data became its own application (declared to the loader).

A config that still names an old path exits 78 with the new one (see
``hftpipe.runtime.loader``); the old modules are gone.
"""

from __future__ import annotations

from typing import Final

MOVED: Final = {
    "stages.feed.stage:FeedStage": "stages.marketdata.feed.stage:FeedStage",
    "stages.book.stage:BookStage": "stages.marketdata.book.stage:BookStage",
    "stages.replay_venue:ReplayVenueStage": "stages.marketdata.capture.replay_venue:ReplayVenueStage",
}
