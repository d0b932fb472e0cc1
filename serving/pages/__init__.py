"""Web pages for the ethics board and planners, rendered on the server, in the API's app.

Read top-down:

- :mod:`serving.pages.session`: sign-in with an API key, the signed session cookie, CSRF;
- :mod:`serving.pages.web`: templates, role checks and error pages;
- :mod:`serving.pages.signin`: the home redirect, signing in and out;
- :mod:`serving.pages.planner`: areas, charts, the tile map and CSV for planners;
- :mod:`serving.pages.board`, :mod:`serving.pages.board_data`: versions, reports, decisions
  and the audit log for the board;
- :mod:`serving.pages.charts`, :mod:`serving.pages.tiles`: SVG charts and the borough grid.

Templates (Jinja2) and the stylesheet ship inside the package (``templates/``, ``static/``),
so the pages work offline: nothing is loaded from another site. Each page route declares
itself a page (:class:`serving.pages.web.PageRequirement`), so the gate lets it through
without a Bearer key; each page checks its session. :mod:`serving.routers.pages` puts them
in the app.
"""

from __future__ import annotations

__all__: list[str] = []
