"""The web UI's routers, one module per part: auth, public, review, pages."""
