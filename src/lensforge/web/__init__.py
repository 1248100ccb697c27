"""The web UI: server-rendered pages (Jinja2, HTMX, a little plain JavaScript) served by the API
server at `/`. Pages read and change everything through the JSON API (in-process for what the
server renders, `fetch` with the session cookie for what the browser does), so the role policy
and the organization isolation are exactly the API's. See docs/web-ui.md."""
