"""
Atom feeds of flags (Django's syndication framework): every flag, or one corridor's.

An entry is one flag; its id stays the same for the flag's whole life, and its
`updated` moves whenever the flag does (raised again, reviewed, withdrawn), so a feed
reader shows the change as an updated entry rather than a new one. The feeds show
site names only, never positions: a restricted site stays as coarse as anywhere else.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.contrib.syndication.views import Feed
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _

from corridors import selectors
from corridors.models import Corridor, Flag
from corridors.templatetags.corridors import certainty_word, window_span

# Entries in a feed: the latest changes; a reader that polls keeps the older ones.
FEED_SIZE = 50


def flag_title(flag: Flag) -> str:
    """ "Confirmed, open: Shelling at Azovstal, window 08:00–18:00 on 5 May (Mariupol – Zaporizhzhia)"."""
    return _("%(certainty)s, %(status)s: %(kind)s at %(site)s, window %(window)s (%(corridor)s)") % {
        "certainty": certainty_word(flag.certainty).capitalize(),
        "status": flag.get_status_display().lower(),
        "kind": flag.hostility.get_kind_display(),
        "site": flag.hostility.site.name,
        "window": window_span(flag.window),
        "corridor": flag.window.corridor.name,
    }


class FlagFeed(Feed):
    """Every flag, latest change first."""

    feed_type = Atom1Feed

    def title(self, obj: Any = None) -> str:
        return _("Flags: corridor windows broken by hostilities")

    def subtitle(self, obj: Any = None) -> str:
        return _("Every flag raised on a corridor window, and every change to one, latest first.")

    def link(self, obj: Any = None) -> str:
        return reverse("tracker:overview")

    def feed_url(self, obj: Any = None) -> str:
        return reverse("corridors:flags_feed")

    def flags(self, obj: Any) -> QuerySet[Flag]:
        return selectors.flags_for_feed()

    def items(self, obj: Any = None) -> list[Flag]:
        return list(self.flags(obj).order_by("-updated_at", "-id")[:FEED_SIZE])

    def item_title(self, item: Flag) -> str:
        return flag_title(item)

    def item_description(self, item: Flag) -> str:
        # A feed is public: it names a reviewer's organisation, never the person.
        return render_to_string("corridors/feeds/flag.html", {"flag": item, "user": AnonymousUser()})

    def item_link(self, item: Flag) -> str:
        return reverse("corridors:corridor", args=[item.window.corridor_id]) + f"#window-{item.window_id}"

    def item_guid(self, item: Flag) -> str:
        # One id per flag for its whole life, whatever the language: the entry is updated, never repeated.
        return f"tag:evacuation-tracker,2022:flag/{item.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, item: Flag) -> dt.datetime:
        return item.raised_at

    def item_updateddate(self, item: Flag) -> dt.datetime:
        return item.updated_at

    def item_categories(self, item: Flag) -> list[str]:
        return [item.certainty, item.status]


class CorridorFlagFeed(FlagFeed):
    """One corridor's flags, latest change first."""

    def get_object(self, request: HttpRequest, pk: int) -> Corridor:
        return get_object_or_404(Corridor, pk=pk)

    def title(self, obj: Any = None) -> str:
        return _("Flags on %(corridor)s") % {"corridor": obj.name}

    def subtitle(self, obj: Any = None) -> str:
        return _("Every flag raised on a window of this corridor, and every change to one, latest first.")

    def link(self, obj: Any = None) -> str:
        return reverse("corridors:corridor", args=[obj.pk])

    def feed_url(self, obj: Any = None) -> str:
        return reverse("corridors:corridor_feed", args=[obj.pk])

    def flags(self, obj: Any) -> QuerySet[Flag]:
        return selectors.flags_for_feed().filter(window__corridor=obj)
