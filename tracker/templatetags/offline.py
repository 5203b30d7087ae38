"""The offline staff pages' words for their script (tracker/static/tracker/offline.js), in the page's language."""

from __future__ import annotations

from django import template
from django.utils.html import json_script
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

register = template.Library()

# One count per plural category the script's Intl.PluralRules may name (Ukrainian: one, few, many).
CATEGORY_COUNTS = {"one": 1, "few": 2, "many": 5, "other": 5}


def plural(singular: str, plural_: str) -> dict[str, str]:
    """A message with `%(n)s` in each plural form of the page's language, keyed by CLDR category."""
    return {category: ngettext(singular, plural_, n) for category, n in CATEGORY_COUNTS.items()}


@register.simple_tag
def offline_strings() -> SafeString:
    """A JSON data block (not a script: the Content Security Policy allows none inline)."""
    strings = {
        "offline": _("You are offline. What you save is kept on this device and sent when the connection returns."),
        "dataAge": _("Sites, sources and windows as of %(time)s (%(ago)s)."),
        "ready": _("This device can open these forms offline."),
        "kept": _("Saved on this device: it will be sent when the connection returns."),
        "sent": _("Sent."),
        "correcting": _("You are correcting an entry from the outbox: saving sends it again."),
        "waiting": plural("%(n)s entry waiting to be sent", "%(n)s entries waiting to be sent"),
        "refused": plural(
            "%(n)s entry refused: correct it and send it again",
            "%(n)s entries refused: correct them and send them again",
        ),
        "nothingWaiting": _("Nothing waiting to be sent"),
        "statusWaiting": _("Waiting to be sent"),
        "statusLogin": _("Waiting for you to log in"),
        "statusSaved": _("Saved"),
        "statusRefused": _("Refused"),
        "enteredAt": _("entered %(time)s"),
        "open": _("Open it"),
        "correct": _("Correct it"),
        "remove": _("Delete from this device"),
        "clearSaved": _("Clear the saved entries from this list"),
        "login": _("Your login has expired: log in, and what is waiting will be sent."),
        "loginLink": _("Log in"),
        "logoutWarning": plural(
            "%(n)s entry on this device has not been sent. Logging out deletes it. Log out anyway?",
            "%(n)s entries on this device have not been sent. Logging out deletes them. Log out anyway?",
        ),
    }
    return json_script(strings, "offline-strings")
