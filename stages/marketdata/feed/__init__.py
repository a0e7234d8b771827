"""The feed stage: venue WebSockets and REST snapshots in, market-data records into a ring; live recording."""
