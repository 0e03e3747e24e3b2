"""The phases of one sync cycle, one module each, run in order by ``leadsync.engine.Engine.sync``.

``working``: the cycle's working data. ``fetch``: read both sides. ``confirm``: resolve intents, load
links and read directly what the listings did not settle. ``apply``: run the plan's units (``markers``:
link markers written in batches). ``commit``: the backlog, links and ``META``, then acknowledgements and
metrics. Each phase is module-level functions over the ``Cycle`` (and the ``StateStore``).
"""
