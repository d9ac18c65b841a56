"""shopwatch: a news and market-intelligence monitor for e-commerce competitors.

This package holds only what every other package shares: the version and the
error hierarchy (:mod:`shopwatch.errors`). The stages live in their own
top-level packages: ``config`` → ``crawler`` → ``storage`` → ``nlp`` →
``schedules``, with ``cli`` as the command-line shell and ``newsworld`` as the
local news world used by the demo and the tests.
"""

__version__ = "0.1.0"
