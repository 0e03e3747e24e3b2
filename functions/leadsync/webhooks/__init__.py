"""Webhooks: signed change notices from Trello, Notion and Airtable, turned into hints on the pair queue.

A hint only makes a pair's next cycle come sooner; the cycle re-reads both sides, so a lost, forged
or replayed event can never change data. ``verify`` holds the pure signature checks, ``receiver``
the decisions of one request, ``hints`` the queue and replay-guard adapters.
"""
