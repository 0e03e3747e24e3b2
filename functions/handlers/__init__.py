"""Lambda entry points: thin wrappers that wire Powertools and call the application."""
