"""
The Atom feed of one site's hostility reports (and those of the sites inside it, as
its page lists them), latest change first. Names only, never positions: a restricted
site stays as coarse in the feed as anywhere else.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.syndication.views import Feed
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _

from tracker import selectors
from tracker.models import HostilityReport, Site

FEED_SIZE = 50


class SiteHostilityFeed(Feed):
    feed_type = Atom1Feed
    item_guid_is_permalink = False

    def get_object(self, request: HttpRequest, pk: int) -> Site:
        return get_object_or_404(Site, pk=pk)

    def title(self, obj: Site) -> str:
        return _("Hostility reports at %(site)s") % {"site": obj.name}

    def subtitle(self, obj: Site) -> str:
        return _("Hostility reports at this site and the places inside it, latest change first.")

    def link(self, obj: Site) -> str:
        return reverse("tracker:site", args=[obj.pk])

    def feed_url(self, obj: Site) -> str:
        return reverse("tracker:site_feed", args=[obj.pk])

    def items(self, obj: Site) -> list[HostilityReport]:
        return list(selectors.hostilities_for_feed([obj.pk, *selectors.site_descendant_ids(obj)], limit=FEED_SIZE))

    def item_title(self, item: HostilityReport) -> str:
        return _("%(kind)s at %(site)s") % {"kind": item.get_kind_display(), "site": item.site.name}

    def item_description(self, item: HostilityReport) -> str:
        return render_to_string("tracker/feeds/hostility.html", {"report": item})

    def item_link(self, item: HostilityReport) -> str:
        return reverse("tracker:site", args=[item.site_id])

    def item_guid(self, item: HostilityReport) -> str:
        return f"tag:evacuation-tracker,2022:hostility/{item.pk}"

    def item_pubdate(self, item: HostilityReport) -> dt.datetime:
        return item.created_at

    def item_updateddate(self, item: HostilityReport) -> dt.datetime:
        return item.updated_at

    def item_categories(self, item: HostilityReport) -> list[str]:
        return [item.kind, item.verification]
