"""What every exchange stage shares: settings (parsed once), topology, exchangeInfo, the API error."""
