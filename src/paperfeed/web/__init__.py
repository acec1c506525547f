"""The web app: server-rendered pages (usable without JavaScript) and, mounted beside them, the JSON API."""
