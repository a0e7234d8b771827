"""The book stage: L2 books, BBO/top-N and bars from the feed's records."""
