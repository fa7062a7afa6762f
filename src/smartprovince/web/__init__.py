"""Web shell: layout, i18n, home page with the three faces, login, profile, admin pages.

Public interface for other modules' page routes: ``render`` a template with the base context,
``redirect`` after a form post, ``flash`` a message for the next page, ``csrf_token``;
``translator(lang)`` / ``request_lang(request)`` for text outside templates; ``environment`` for
rendering a template fragment (e.g. a server-sent event's HTML).
"""

from smartprovince.web.i18n import request_lang, translator
from smartprovince.web.rendering import csrf_token, environment, flash, redirect, render

__all__ = ["csrf_token", "environment", "flash", "redirect", "render", "request_lang", "translator"]
