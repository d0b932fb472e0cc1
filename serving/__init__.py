"""Serving: the planners' API over area-level releases, and nothing else.

It reads releases (area figures after disclosure control, with the board's signed approval,
verified again here), never individual-level data; it imports no model library
(import-linter enforces both). Read top-down:

- :mod:`serving.config`: ``configs/serving.yaml``;
- :mod:`serving.releases`: verify, load and pre-serialise a release; the snapshot swapped whole;
- :mod:`serving.keys`: API keys and roles, stored hashed;
- :mod:`serving.access`: who may call a route, as each route declares it;
- :mod:`serving.gate`: key, role, rate limit, audit and metrics around every request;
- :mod:`serving.audit`: the request audit, written off the request path;
- :mod:`serving.dependencies`: what the routes share (state, declared roles), as dependencies;
- :mod:`serving.routers`: the routes, one router per resource;
- :mod:`serving.app`: the FastAPI app (``create_app``), which wires them together;
- :mod:`serving.pages`: the web pages for planners and the ethics board, in the same app;
- :mod:`serving.aggregate`, :mod:`serving.schemas`, :mod:`serving.problems`,
  :mod:`serving.openapi`, :mod:`serving.metrics`: what the routes use.

Nothing is imported here, so that the audit writer process (``python -m serving.audit``)
starts without loading the web stack; import from the modules.
"""

__all__: list[str] = []
