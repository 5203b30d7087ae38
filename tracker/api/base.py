"""
The conventions of the REST API (docs/api.md), implemented once for every resource:

- fields: instants in UTC on output and never naive on input; JSON numbers, booleans
  and strings taken only as themselves ("12" is not a count);
- who may do what: reads are public unless a view says otherwise, writes need a login
  and the role of tracker/permissions.py;
- writes go through the services in one transaction: a request that fails writes
  nothing (its idempotency record included);
- lists are paginated (`page`, `page_size` up to 500), filter on `updated_since` and
  are ordered stably;
- details carry an ETag; a stale `If-Match` gets 412 and changes nothing;
- a POST with an `Idempotency-Key` the same user sent before gets the first response.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import math
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, cast

import django_filters
from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ImproperlyConfigured, ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxLengthValidator
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import FilterSet as BaseFilterSet
from rest_framework import ISO_8601, exceptions, permissions, serializers, status, viewsets
from rest_framework.fields import Field, SkipField, empty
from rest_framework.relations import PKOnlyObject, PrimaryKeyRelatedField, RelatedField
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import exception_handler as drf_exception_handler

from tracker import permissions as permissions_
from tracker import secrecy
from tracker.api import idempotency
from tracker.api.parsers import MAX_BODY_BYTES, RequestTooLarge
from tracker.api.policy import SYNC_ORDER
from tracker.audit import InUse
from tracker.validators import EARLIEST, LATEST, RANGE_MESSAGE, validate_http_url

if TYPE_CHECKING:
    from rest_framework.request import Request

    from tracker.models import User

    class ApiRequest(Request):
        """
        A request as the viewsets read it (for the type checker only): `now` is stamped
        by `initial()`, and `user` is a member's account wherever a service is called,
        as every write is let through by RolePermission only for a signed-in member (a
        read may be anonymous: what reads it asks `is_authenticated`, as it always has).
        """

        user: User  # narrower than Request.user: see the docstring
        now: dt.datetime


# The largest count PostgreSQL's integer column holds; SQLite would take more.
MAX_COUNT = 2_147_483_647

NAIVE_MESSAGE = _(
    "Give the time with its UTC offset, such as 2022-05-05T08:00:00+03:00 or 2022-05-05T05:00:00Z: "
    "a time without one is ambiguous."
)


# --- Fields -----------------------------------------------------------------------


def _check_range(value: dt.datetime) -> None:
    if not EARLIEST <= value < LATEST:
        raise DjangoValidationError(RANGE_MESSAGE, code="out_of_range")


class UTCDateTimeField(serializers.DateTimeField):
    """ISO 8601 in UTC on output ("2022-05-05T05:00:00Z"); input in any offset, never naive."""

    default_error_messages = {"naive": NAIVE_MESSAGE, "out_of_range": RANGE_MESSAGE}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default_timezone", dt.UTC)
        super().__init__(**kwargs)

    def to_internal_value(self, value: Any) -> dt.datetime:
        if not isinstance(value, str):
            self.fail("invalid", format="YYYY-MM-DDThh:mm[:ss[.uuuuuu]]±hh:mm")
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            self.fail("naive")
        result = super().to_internal_value(value)
        if not EARLIEST <= result < LATEST:
            self.fail("out_of_range")
        return result

    def to_representation(self, value: Any) -> Any:
        # What DRF's does for an aware datetime in ISO 8601, without its general
        # machinery: lists have several of these on every row.
        if isinstance(value, dt.datetime) and value.tzinfo is not None and self.iso_output:
            return value.astimezone(dt.UTC).isoformat()[:-6] + "Z"
        return super().to_representation(value)

    @cached_property
    def iso_output(self) -> bool:
        return getattr(self, "format", api_settings.DATETIME_FORMAT) == ISO_8601


class ZonedDateTimeField(serializers.DateTimeField):
    """Read only: an instant in a zone the object names (ISO 8601 with that zone's offset)."""

    def __init__(self, *, zone_of: Callable[[Any], str], **kwargs: Any) -> None:
        self.zone_of = zone_of
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> Any:
        value = super().get_attribute(instance)
        return value.astimezone(zoneinfo.ZoneInfo(self.zone_of(instance)))  # type: ignore[union-attr]  # a window's bounds, never null

    def to_representation(self, value: dt.datetime) -> str:
        return value.isoformat()


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: not a string of digits, not 1.0, not true."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A finite JSON number."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float) or not math.isfinite(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false, nothing else."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictCharField(serializers.CharField):
    """
    A JSON string: a number is not silently turned into text. Too long, it gets the
    message the staff forms and the admin give ("at most 2000 characters (it has
    2001)"), not the REST framework's own wording.
    """

    default_error_messages = {"invalid": _("Not a valid string.")}

    def __init__(self, **kwargs: Any) -> None:
        max_length = kwargs.pop("max_length", None)
        super().__init__(**kwargs)
        self.max_length = max_length  # read by the schema (maxLength)
        if max_length is not None:
            self.validators.append(MaxLengthValidator(max_length))

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictURLField(StrictCharField):
    """A JSON string holding a web address people can open: http or https (tracker/validators.py)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # DRF leaves a model's URLValidator out of the validators it copies, for its own.
        self.validators.append(validate_http_url)


class StrictPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A reference by id: a JSON integer that names an existing object."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 0 < data <= 2**63 - 1:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class ModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer with this API's strict fields; `id`, `created_at` and `updated_at` are read only."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UTCDateTimeField,
        models.IntegerField: StrictIntegerField,
        models.BigIntegerField: StrictIntegerField,
        models.PositiveIntegerField: StrictIntegerField,
        models.PositiveSmallIntegerField: StrictIntegerField,
        models.FloatField: StrictFloatField,
        models.BooleanField: StrictBooleanField,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.URLField: StrictURLField,
    }
    serializer_related_field = StrictPrimaryKeyRelatedField

    # Fields that name a staff account, and the field that names the organisation whose
    # people may see it (None: coordinators and admins only). Everyone else gets null:
    # the public sees which organisation entered a figure, never who.
    person_fields: ClassVar[dict[str, str | None]] = {"created_by": "organisation", "reviewed_by": None}
    # Worked out once per serializer class, on first use (get_fields, plain_columns).
    _model_fields: ClassVar[dict[str, Field]]
    _plain_columns: ClassVar[tuple[str, ...] | None]

    def get_fields(self) -> dict[str, Field]:
        """
        DRF's fields, worked out from the model once per serializer class rather than
        on every instance (every request): that introspection was a good part of a
        small response's time. Each instance gets its own copies, as in DRF.
        """
        cls = type(self)
        if "_model_fields" not in cls.__dict__:
            cls._model_fields = super().get_fields()
        return copy.deepcopy(cls._model_fields)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """
        What DRF's gives, made faster for lists, where it runs for every row: a field
        whose value is an attribute of the object (a column, a foreign key's id, an
        attribute the view's `prepare` set, `a.b.c`) is read with plain `getattr`,
        without DRF's generic lookup and, for a foreign key, the stand-in object it
        builds for the id. Whatever that lookup would treat specially (a mapping, a
        callable, a missing attribute) and every other field take DRF's own path.
        """
        if isinstance(instance, Mapping):
            return self._hide_people(super().to_representation(instance))
        data: dict[str, Any] = {}
        for kind, name, field, path in self._readers:
            if kind is _COLUMN:
                value = getattr(instance, path[0])
                data[name] = None if value is None else field.to_representation(value)
                continue
            if kind is _FOREIGN_KEY:
                data[name] = getattr(instance, path[0])
                continue
            if kind is _ATTRIBUTE:
                value = _read(instance, path)
                if value is _NONE_ON_THE_WAY and field.default is empty and field.allow_null:
                    value = None  # as DRF does when `a.b.c` meets None at `a.b`
                if value is not _NONE_ON_THE_WAY and value is not _UNREAD:
                    data[name] = None if value is None else field.to_representation(value)
                    continue
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            data[name] = None if check_for_none is None else field.to_representation(attribute)
        return self._hide_people(data)

    def _hide_people(self, data: dict[str, Any]) -> dict[str, Any]:
        """Null the staff accounts this reader may not see (tracker.permissions.can_see_people_of)."""
        for name, organisation in self.person_fields.items():
            if data.get(name) is not None and not self._sees_people_of(
                data.get(organisation) if organisation else _NOBODYS
            ):
                data[name] = None
        return data

    def _sees_people_of(self, organisation_id: Any) -> bool:
        # Who reads is asked once per response, not once per row.
        if "people_of" not in self.context:
            request = self.context.get("request")
            user = getattr(request, "user", None)
            everyone = permissions_.can_see_people_of(user, None)  # not tied to an organisation: everyone's
            own = getattr(user, "organisation_id", None) if permissions_.is_staff_member(user) else None
            cast("dict[str, Any]", self.context)["people_of"] = (everyone, own)
        everyone, own = self.context["people_of"]
        return everyone or (own is not None and organisation_id == own)

    def plain_columns(self) -> tuple[str, ...] | None:
        """
        The model attributes whose values make the whole representation, in field order,
        when every readable field is a column or a foreign key's id shown as it is
        stored (and no subclass changes `to_representation`); None otherwise.
        """
        cls = type(self)
        if "_plain_columns" not in cls.__dict__:
            plain = cls.to_representation is ModelSerializer.to_representation and all(
                kind is _COLUMN or kind is _FOREIGN_KEY for kind, *_ in self._readers
            )
            cls._plain_columns = tuple(path[0] for *_, path in self._readers) if plain else None
        return cls._plain_columns

    def represent_row(self, row: Sequence[Any]) -> dict[str, Any]:
        """What `to_representation` gives for the object whose `plain_columns()` values are `row`."""
        return self._hide_people(
            {
                name: value if kind is _FOREIGN_KEY or value is None else field.to_representation(value)
                for (kind, name, field, _), value in zip(self._readers, row, strict=True)
            }
        )

    @cached_property
    def _readers(self) -> list[tuple[object, str, Field, tuple[str, ...]]]:
        """
        How to read each readable field, in order: (kind, name, field, attribute path).
        Worked out once per serializer, that is once per response for a list.
        """
        model = getattr(getattr(self, "Meta", None), "model", None)
        columns = {f.name: f for f in model._meta.concrete_fields} if model is not None else {}
        relations = {name for name, column in columns.items() if column.is_relation}
        readers = []
        for field in self._readable_fields:
            path = tuple(field.source_attrs)
            if len(path) == 1 and path[0] in relations:
                plain_id = (
                    isinstance(field, PrimaryKeyRelatedField)
                    and field.pk_field is None
                    and type(field).get_attribute is RelatedField.get_attribute
                    and type(field).to_representation is PrimaryKeyRelatedField.to_representation
                )
                kind, path = (_FOREIGN_KEY, (columns[path[0]].attname,)) if plain_id else (_DRF, path)
            elif path and type(field).get_attribute is Field.get_attribute:
                # A column holds data, never None on the way nor a callable: no need to look.
                kind = _COLUMN if len(path) == 1 and path[0] in columns else _ATTRIBUTE
            else:
                kind = _DRF
            readers.append((kind, cast(str, field.field_name), field, path))  # a bound field has its name
        return readers


# How ModelSerializer.to_representation reads a field, and what `_read` may answer beside a value.
_DRF, _COLUMN, _FOREIGN_KEY, _ATTRIBUTE = object(), object(), object(), object()
_NONE_ON_THE_WAY, _UNREAD = object(), object()
# No organisation's people may see it: a field only coordinators and admins see.
_NOBODYS = object()


def _read(instance: Any, path: tuple[str, ...]) -> Any:
    """
    `instance.a.b.c` by plain getattr; `_NONE_ON_THE_WAY` when it meets None before the
    end, `_UNREAD` for what DRF's lookup treats specially (a mapping on the way, a
    callable, which DRF would call, an attribute missing or raising ObjectDoesNotExist).
    """
    value = instance
    for step, attribute in enumerate(path):
        if value is None:
            return _NONE_ON_THE_WAY
        if step and isinstance(value, Mapping):
            return _UNREAD
        try:
            value = getattr(value, attribute)
        except (AttributeError, ObjectDoesNotExist):
            return _UNREAD
        if callable(value):
            return _UNREAD
    return value


COMMON_FIELDS = ("id", "created_at", "updated_at")
ATTRIBUTION_FIELDS = ("organisation", "created_by")


# --- Errors -----------------------------------------------------------------------


def throttled_message(wait: int | None) -> str:
    if wait is None:
        return gettext("Too many requests: wait a little, then try again.")
    return ngettext(
        "Too many requests: try again in %(n)d second.", "Too many requests: try again in %(n)d seconds.", wait
    ) % {"n": wait}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """
    DRF's handler, plus the errors the services raise: a Django ValidationError is a
    400 in the API's shape (`{"field": [...]}`; `non_field_errors` for the rest), and
    a database constraint that a concurrent write tripped is a 400 too, not a 500.

    An error is JSON whatever format was asked for: a client of `?format=csv` or
    `geojson` gets the same `{"field": [...]}` or `{"detail": ...}` as everyone else
    (docs/api.md, "Conventions"), not that body flattened into a CSV table.
    """
    if isinstance(exc, DjangoValidationError):
        detail = as_serializer_error(exc)
        if NON_FIELD_ERRORS in detail:
            detail[api_settings.NON_FIELD_ERRORS_KEY] = detail.pop(NON_FIELD_ERRORS)
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, InUse):
        exc = Conflict(str(exc))
    elif isinstance(exc, RequestDataTooBig):
        limit = min(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or MAX_BODY_BYTES, MAX_BODY_BYTES)
        exc = RequestTooLarge(_("The request body is larger than %(limit)d bytes.") % {"limit": limit})
    elif isinstance(exc, exceptions.Throttled):
        # DRF's own words are half translated in Ukrainian ("… Expected available in 42
        # seconds."): ours, whole in each language. `wait` still gives Retry-After.
        wait = math.ceil(exc.wait) if exc.wait is not None else None  # type: ignore[attr-defined]  # Throttled's own, not in the stubs
        throttled = exceptions.Throttled(detail=throttled_message(wait))
        throttled.wait = exc.wait  # type: ignore[attr-defined]  # as above
        exc = throttled
    elif isinstance(exc, IntegrityError):
        exc = exceptions.ValidationError(
            {"detail": _("This conflicts with data written at the same time; read it again and retry.")}
        )
    response = drf_exception_handler(exc, context)
    request = context.get("request")
    if response is not None and request is not None:
        # Read by the view's finalize_response(), which renders the response with it.
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
    return response


class Conflict(exceptions.APIException):
    """Not a matter of permission: nobody may delete what other records refer to."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "in_use"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _("The object changed since you read it (its ETag no longer matches If-Match): read it again.")
    default_code = "precondition_failed"


# --- Lists ---------------------------------------------------------------------------


class AwareDateTimeFormField(forms.Field):
    """A query parameter instant: ISO 8601 with an offset (a `+` that arrived as a space is read as `+`)."""

    default_error_messages = {
        "invalid": _("Give an ISO 8601 time such as 2022-05-05T05:00:00Z."),
        "naive": NAIVE_MESSAGE,
    }

    def to_python(self, value: Any) -> dt.datetime | None:
        if value in self.empty_values:
            return None
        text = re.sub(r" (\d{2}(?::?\d{2})?)$", r"+\1", str(value).strip())
        try:
            parsed = parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise DjangoValidationError(self.error_messages["invalid"], code="invalid")
        if parsed.tzinfo is None:
            raise DjangoValidationError(self.error_messages["naive"], code="naive")
        try:
            parsed = parsed.astimezone(dt.UTC)
        except OverflowError:
            raise DjangoValidationError(self.error_messages["invalid"], code="invalid") from None
        _check_range(parsed)
        return parsed


class AwareDateTimeFilter(django_filters.Filter):
    field_class = AwareDateTimeFormField


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """`true` or `false`; anything else is a 400, not an ignored filter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(*args, **kwargs)


class FilterSet(BaseFilterSet):
    """
    Every list's filters start with `updated_since` (incremental sync). With it, the
    list is ordered by (updated_at, id), and its pages are linked by a cursor on that
    order (policy.Pagination): following `next` never skips a row changed or deleted
    meanwhile. A client starts its next sync with `updated_since` set to the last
    `updated_at` it received (docs/api.md, "Incremental sync").
    """

    updated_since = AwareDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        label="Only objects created or changed at or after this instant (ISO 8601 with offset).",
    )

    @classmethod
    def get_filters(cls) -> dict[str, Any]:
        """
        The filters, refused at start-up if one (or an ordering one offers) reaches a
        field that carries an exact position (tracker/secrecy.py): the lists are
        public, and each such filter would answer a question about where a restricted
        site is.
        """
        filters = super().get_filters()
        model = cls._meta.model
        for name, item in filters.items():
            paths = [item.field_name, *getattr(item, "param_map", {}).values()]
            if model is not None and any(secrecy.reaches_exact_position(model, path) for path in paths if path):
                raise ImproperlyConfigured(f"{cls.__name__}.{name} filters or orders on an exact position.")
        return filters

    def filter_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        queryset = super().filter_queryset(queryset)
        if self.form.cleaned_data.get("updated_since") is not None:
            queryset = queryset.order_by(*SYNC_ORDER)
        return queryset


def overlap_filter(start_field: str, end_field: str, *, open_end: bool = False) -> tuple[Callable, Callable]:
    """
    `since` / `until` filter methods for objects that span a time: those that overlap
    the half-open `[since, until)`. With `open_end`, a null end means "still going on".
    """

    def since(queryset: models.QuerySet[Any], name: str, value: dt.datetime) -> models.QuerySet[Any]:
        condition = models.Q(**{f"{end_field}__gt": value})
        if open_end:
            condition |= models.Q(**{f"{end_field}__isnull": True})
        return queryset.filter(condition)

    def until(queryset: models.QuerySet[Any], name: str, value: dt.datetime) -> models.QuerySet[Any]:
        return queryset.filter(**{f"{start_field}__lt": value})

    return since, until


# --- Views --------------------------------------------------------------------------


def etag_of(data: Any) -> str:
    """A strong validator of one representation: the hash of its JSON."""
    body = json.dumps(data, cls=JSONEncoder, sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def _etags(header: str) -> list[str]:
    # GZipMiddleware weakens the ETags of the responses it compresses (W/"..."):
    # compare the opaque part, as a weak comparison does.
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


class ReadViewSet(viewsets.GenericViewSet):
    """
    A resource of the API that anyone may read. Subclasses name their serializer,
    queryset and filters, and say, in terms of tracker/permissions.py, who may write
    (`may_create`, `may_change`, `may_delete`) and through which service (`save`,
    `perform_destroy`); ModelViewSet adds the writes themselves.
    """

    request: ApiRequest
    # The HXL hashtag of each CSV column (tracker/api/renderers.py).
    hxl_tags: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuses at start-up a list that would sort or search on an exact position (as FilterSet does its filters)."""
        super().__init_subclass__(**kwargs)
        model = getattr(getattr(cls, "queryset", None), "model", None)
        ordering = getattr(cls, "ordering_fields", None) or ()
        names = [*([f.name for f in model._meta.fields] if ordering == "__all__" and model else ordering)]
        names += [*(getattr(cls, "search_fields", None) or ()), *(getattr(cls, "ordering", None) or ())]
        if model is not None and any(secrecy.ordering_reaches_exact_position(model, name) for name in names):
            raise ImproperlyConfigured(f"{cls.__name__} sorts or searches on an exact position.")

    # -- who may do what (the services check again)

    def may_read(self, user: Any) -> bool:
        return True

    def may_create(self, user: Any) -> bool:
        return False

    def may_change(self, user: Any, obj: Any) -> bool:
        return False

    def may_delete(self, user: Any, obj: Any) -> bool:
        return self.may_change(user, obj)

    def prepare(self, objects: Sequence[Any]) -> None:
        """Load in bulk what the serializer needs beyond the queryset, for one page (or one object)."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # OPTIONS describes the endpoint (its fields, its formats): JSON, whichever
        # `?format=` its data was asked in. A CSV or GeoJSON renderer has no rows to make of it.
        if request.method == "OPTIONS":
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # One "now" per request (STYLE.md, item 9): the filters and the serializer judge
        # every window of a page open or closed at the same instant.
        cast("ApiRequest", request).now = timezone.now()
        if self.action is None and request.method != "OPTIONS":
            # A method this route does not serve: 405 for everyone, before the
            # permission check could answer 401 or 403 about a thing nobody may do.
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        # What a list or an object says depends on who reads it (an exact position, who
        # entered a figure): a cache must not give one reader's answer to another.
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ("Authorization", "Cookie"))
        return response

    # -- one transaction per write

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.method in permissions.SAFE_METHODS:
            return super().dispatch(request, *args, **kwargs)
        # DRF turns exceptions into responses inside dispatch(): roll back on any error
        # response, so that a failed request writes nothing. Tasks the services queued
        # with on_commit run only if this commits.
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            if response.status_code >= 400:
                transaction.set_rollback(True)
        return response

    def get_object(self) -> Any:
        obj = super().get_object()
        if self.request.method not in permissions.SAFE_METHODS:
            # Locked for the rest of the request, then read again: the If-Match check and
            # the write after it see the same version (two clients updating one object at
            # once: the second waits, then gets 412).
            self.lock_for_write(obj)
            obj.refresh_from_db()
        return obj

    def lock_for_write(self, obj: Any) -> None:
        """Hold off every other write of `obj` until this request ends: its row lock, by default."""
        type(obj)._default_manager.select_for_update().filter(pk=obj.pk).first()

    # -- reads

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        serializer = self.get_serializer()
        columns = serializer.plain_columns() if isinstance(serializer, ModelSerializer) else None
        if columns is not None and type(self).prepare is ReadViewSet.prepare:
            # Every field is a column: the page is read as plain rows, without making
            # a model instance of each (the same query, fewer columns).
            rows = self.paginate_queryset(queryset.values_list(*columns)) or []
            represent_row = cast("ModelSerializer", serializer).represent_row  # plain_columns() said it is one
            return self.get_paginated_response([represent_row(row) for row in rows])
        page = list(self.paginate_queryset(queryset) or [])
        self.prepare(page)
        serializer = self.get_serializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    def representation(self, instance: Any) -> Any:
        self.prepare([instance])
        return self.get_serializer(instance).data

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.representation(self.get_object())
        etag = etag_of(data)
        known = _etags(request.headers.get("If-None-Match", ""))
        if etag in known or "*" in known:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return Response(data, headers={"ETag": etag})

    def check_if_match(self, instance: Any) -> None:
        """412 unless `If-Match` (when given) names the ETag of the object as it is now."""
        header = self.request.headers.get("If-Match")
        if header is None:
            return
        tags = _etags(header)
        if "*" not in tags and etag_of(self.representation(instance)) not in tags:
            raise PreconditionFailed


class ModelViewSet(ReadViewSet):
    """A resource that staff write, through the services, with the API's conventions."""

    def save(self, instance: Any, data: dict[str, Any]) -> Any:
        """Save `instance`, already given the validated `data`, through its service."""
        raise NotImplementedError

    # Not `delete`: a viewset method named after an HTTP verb is that verb's handler,
    # so a hook called `delete` would answer DELETE requests itself.
    def perform_destroy(self, instance: Any) -> None:
        """Delete `instance` through its service."""
        raise NotImplementedError

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        def respond() -> Response:
            serializer = self.get_serializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            model = serializer.Meta.model  # type: ignore[attr-defined]  # a ModelSerializer's Meta, unseen by the stubs
            data = dict(serializer.validated_data)
            instance = self.save(model(**{k: v for k, v in data.items() if not _many_to_many(model, k)}), data)
            return Response(self.representation(instance), status=status.HTTP_201_CREATED)

        return idempotency.respond_once(request, respond)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        self.check_if_match(instance)
        serializer = self.get_serializer(instance, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        for name, value in data.items():
            if not _many_to_many(type(instance), name):
                setattr(instance, name, value)
        instance = self.save(instance, data)
        body = self.representation(instance)
        return Response(body, headers={"ETag": etag_of(body)})

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        self.check_if_match(instance)
        self.perform_destroy(instance)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _many_to_many(model: type[models.Model], name: str) -> bool:
    """Whether `name` is a many-to-many field (written by the service, not as an attribute)."""
    field = next((f for f in model._meta.get_fields() if f.name == name), None)
    return field is not None and bool(field.many_to_many)
