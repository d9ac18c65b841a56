"""Web workspace: server-rendered pages and a JSON API over the store, read-only.

:mod:`web.app` builds the ASGI application (security headers, the optional
token, error pages); :mod:`web.api` holds the ``/api/`` routes and
:mod:`web.pages` the HTML pages, both asking :mod:`storage` the same questions
as the CLI; :mod:`web.highlight` and :mod:`web.chart` turn untrusted text and
counts into escaped markup.
"""
