"""Thin adapters to the SaaS APIs, all on one shared HTTP transport."""
