"""Pair state (links, base snapshots, cursors, intents, lease) behind one protocol."""

from leadsync.state.base import StateStore

__all__ = ["StateStore"]
