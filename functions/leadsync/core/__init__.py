"""The pure core: models, mapping, merge and planning. Imports only the standard library."""
