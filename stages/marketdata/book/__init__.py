"""The book stage: L2 books from deltas, BBO, top-N depth and bars out."""
