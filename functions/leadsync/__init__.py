"""leadsync: serverless two-way sync between a lead tracker and a Trello board."""

__version__ = "0.1.0"
