"""The strategy stage: user strategies fed from the book stage's records, their orders out as intents."""
