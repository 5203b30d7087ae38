"""factory_boy factories: realistic defaults, every one overridable. They write directly, not through the services."""

from __future__ import annotations

import datetime as dt

import factory

from corridors.models import Arrival, Corridor, CorridorWindow, Departure, Flag
from tracker import services
from tracker.models import CivilianCount, HostilityReport, Organisation, Role, Site, Source, User

UTC = dt.UTC
PASSWORD = "correct horse battery staple"


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"NGO {n}")
    acronym = factory.Sequence(lambda n: f"N{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    organisation = factory.SubFactory(OrganisationFactory)
    role = Role.REPORTER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Source
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Source {n}")
    kind = Source.Kind.NGO
    url = "https://example.org/report"


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Site {n}")
    kind = Site.Kind.CITY
    latitude = 47.0971
    longitude = 37.5434
    timezone = "Europe/Kyiv"


class CivilianCountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CivilianCount

    site = factory.SubFactory(SiteFactory)
    as_of = dt.datetime(2022, 5, 4, 9, 0, tzinfo=UTC)
    count = 200
    qualifier = "approximately"
    source = factory.SubFactory(SourceFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        count = super()._create(model_class, *args, **kwargs)
        # As every service that writes a count does: the site's latest count follows it.
        services.site_latest_counts_refresh(site_ids=[count.site_id])
        return count


class HostilityReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HostilityReport

    site = factory.SubFactory(SiteFactory)
    kind = HostilityReport.Kind.SHELLING
    started_at = dt.datetime(2022, 5, 5, 7, 0, tzinfo=UTC)
    time_precision = HostilityReport.Precision.EXACT
    source = factory.SubFactory(SourceFactory)


class CorridorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Corridor

    name = factory.Sequence(lambda n: f"Corridor {n}")
    origin = factory.SubFactory(SiteFactory, name=factory.Sequence(lambda n: f"Origin {n}"))
    destination = factory.SubFactory(SiteFactory, name=factory.Sequence(lambda n: f"Destination {n}"))
    status = Corridor.Status.ANNOUNCED


class WindowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CorridorWindow

    corridor = factory.SubFactory(CorridorFactory)
    starts_at = dt.datetime(2022, 5, 5, 5, 0, tzinfo=UTC)
    ends_at = factory.LazyAttribute(lambda w: w.starts_at + dt.timedelta(hours=10))


class DepartureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Departure

    origin = factory.SubFactory(SiteFactory)
    departed_at = dt.datetime(2022, 5, 5, 6, 0, tzinfo=UTC)
    count = 100
    source = factory.SubFactory(SourceFactory)


class ArrivalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Arrival

    origin = factory.SubFactory(SiteFactory)
    destination = factory.SubFactory(SiteFactory)
    arrived_at = dt.datetime(2022, 5, 5, 15, 0, tzinfo=UTC)
    count = 100
    source = factory.SubFactory(SourceFactory)


class FlagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Flag

    window = factory.SubFactory(WindowFactory)
    hostility = factory.SubFactory(HostilityReportFactory)
    overlap_start = factory.LazyAttribute(lambda f: f.window.starts_at)
    overlap_end = factory.LazyAttribute(lambda f: f.window.starts_at + dt.timedelta(hours=1))
    certainty = Flag.Certainty.CONFIRMED
    raised_at = factory.LazyAttribute(lambda f: f.window.starts_at)
