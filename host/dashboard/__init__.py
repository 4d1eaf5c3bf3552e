"""The dashboard: fleet and cell pages in the browser, served by the twin's
HTTP server (host/twin/http.py) from assets inside the package."""
