"""The web side of gridedge: the HTTP API (OpenAPI) and the dashboard (issue 7).

So far: `users` (users, roles, sessions, API tokens in SQLite) and `auth` (the FastAPI
dependencies that guard every state-changing endpoint)."""
