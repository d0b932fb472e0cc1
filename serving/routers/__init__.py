"""The app's routes, one router per resource; :func:`serving.app.create_app` includes them.

- :mod:`serving.routers.areas`: areas, an area, its history, aggregates (any key);
- :mod:`serving.routers.releases`: verified releases (any key);
- :mod:`serving.routers.admin`: reloading the release served (admin key);
- :mod:`serving.routers.operations`: probes (open) and metrics (admin key);
- :mod:`serving.routers.pages`: the planners' and the board's web pages (session).

Each route declares who may call it (:mod:`serving.dependencies`, :mod:`serving.access`).
"""

__all__: list[str] = []
