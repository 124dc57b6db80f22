"""Server-rendered pages: sign-in (:mod:`.session`), the campaigns (:mod:`.campaigns`) and their
plates (:mod:`.plates`).

Pages are Jinja2 templates (autoescaped: every user string is escaped) with a little JavaScript
(``static/app.js``) for drag-and-drop uploads, live updates and picking sites on a sequence. Every
form that changes something carries the session's CSRF token. The pages call the same campaign
service as the REST API, so they can do nothing the API would refuse.
"""

from __future__ import annotations

from fastapi import APIRouter

from activeloop.web.pages import campaigns, plates, session

ROUTERS: tuple[APIRouter, ...] = (session.public, session.router, campaigns.router, plates.router)

__all__ = ["ROUTERS"]
