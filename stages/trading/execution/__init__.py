"""The execution stage: approved intents to the venue, the venue's answers back as execution reports."""
