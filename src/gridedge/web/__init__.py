"""The web side of gridedge: the HTTP API (OpenAPI) and the dashboard (issue 7).

* `app` — `create_app(control, users)`: the FastAPI app of the dashboard, its API and live updates;
* `api` — the JSON API over `gridedge.app.views.DemoControl`: the views, and the commands behind login;
* `events` — live updates as server-sent events;
* `auth` — the FastAPI dependencies that guard every state-changing endpoint, and /api/login etc.;
* `users` — users, roles, sessions, API tokens in SQLite; `demo_users` — one user per role for the demo;
* `metrics` — the energy manager's Prometheus metrics;
* `static/` — the dashboard's HTML, CSS and JavaScript (docs/dashboard.md).
"""
