"""
`imports/`: bulk import of a file (docs/api.md, "Imports"). Uploading records a batch
and queues its preview; `apply/` and `undo/` are its workflow. The work is in
tracker/imports/services.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import parsers, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from tracker import permissions
from tracker.api.base import ReadViewSet, UTCDateTimeField
from tracker.api.parsers import JSONParser, RequestTooLarge
from tracker.imports import readers
from tracker.imports import services as imports
from tracker.imports.resources import RESOURCE_NAMES
from tracker.models import ImportBatch

if TYPE_CHECKING:
    from tracker.api.base import ApiRequest


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text="The row as a spreadsheet numbers it (the header is 1).")
    column = serializers.CharField(allow_null=True, help_text="The column's title in the file.")
    field = serializers.CharField(allow_null=True, help_text="The API field it gives.")
    message = serializers.CharField()


class ImportSerializer(serializers.ModelSerializer):
    created_at = UTCDateTimeField(read_only=True)
    updated_at = UTCDateTimeField(read_only=True)
    applied_at = UTCDateTimeField(read_only=True, allow_null=True)
    undone_at = UTCDateTimeField(read_only=True, allow_null=True)
    rows_done = serializers.SerializerMethodField()
    flagged_windows = serializers.SerializerMethodField(
        help_text="Hostility reports: how many corridor windows the reports this import wrote have open or "
        "acknowledged flags on (checked after it is applied, within seconds); null for other resources."
    )
    errors = ImportErrorSerializer(many=True, read_only=True)  # type: ignore[assignment]  # a declared field, not Serializer.errors
    ignored_columns = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ImportBatch
        fields = (
            "id",
            "created_at",
            "updated_at",
            "resource",
            "format",
            "file_name",
            "size",
            "checksum",
            "status",
            "valid_only",
            "rows_total",
            "rows_done",
            "created",
            "updated",
            "unchanged",
            "retract_missing",
            "retracted",
            "flagged_windows",
            "errors",
            "ignored_columns",
            "organisation",
            "created_by",
            "applied_at",
            "undone_at",
        )
        read_only_fields = fields

    def get_rows_done(self, batch: ImportBatch) -> int:
        return imports.import_progress(batch)

    def get_flagged_windows(self, batch: ImportBatch) -> int | None:
        return imports.import_flagged_windows(batch)


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False)
    resource = serializers.ChoiceField(choices=RESOURCE_NAMES)
    format = serializers.ChoiceField(choices=readers.FORMATS, default="auto")
    dry_run = serializers.BooleanField(default=True)
    retract_missing = serializers.BooleanField(
        default=False,
        help_text="acled and ucdp only, for a full export of a period: retract the reports of that period's "
        "events that earlier imports wrote and this file no longer holds.",
    )


class ImportApplySerializer(serializers.Serializer):
    valid_only = serializers.BooleanField(
        default=False, help_text="Apply the rows without errors and leave the others, instead of all or nothing."
    )


class ImportViewSet(ReadViewSet):
    """
    Files imported by staff. A reporter sees the imports of their organisation, a
    coordinator every one. Reading the rows of an import is through the resources
    themselves; this is the batch: its status, its counts and its errors.
    """

    serializer_class = ImportSerializer
    # A file comes as multipart; apply/ and undo/ take JSON, as every other endpoint.
    parser_classes = [parsers.MultiPartParser, parsers.FormParser]

    def get_queryset(self) -> QuerySet[ImportBatch]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator, with no user
            return ImportBatch.objects.none()
        return imports.import_batches_for(self.request.user)

    def may_read(self, user: Any) -> bool:
        return permissions.is_staff_member(user)

    def may_create(self, user: Any) -> bool:
        return permissions.is_staff_member(user)

    def may_change(self, user: Any, obj: Any) -> bool:
        return permissions.is_staff_member(user)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Refused before the upload is read: a body larger than any file the import takes.
        length = request.META.get("CONTENT_LENGTH") or "0"
        if self.action == "create" and length.isdigit() and int(length) > settings_max_bytes() + 64 * 1024:
            raise RequestTooLarge(
                _("The file is larger than %(limit)d bytes: split it into several files.")
                % {"limit": settings_max_bytes()}
            )
        super().initial(request, *args, **kwargs)

    @extend_schema(request=ImportUploadSerializer, responses={202: ImportSerializer})
    def create(self, request: ApiRequest, *args: Any, **kwargs: Any) -> Response:
        upload = ImportUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        file = upload.validated_data["file"]
        if file.size > settings_max_bytes():
            raise RequestTooLarge(
                _("The file is larger than %(limit)d bytes: split it into several files.")
                % {"limit": settings_max_bytes()}
            )
        batch = imports.import_create(
            user=request.user,
            file_name=file.name or "upload",
            content=file.read(),
            resource=upload.validated_data["resource"],
            file_format=upload.validated_data["format"],
            dry_run=upload.validated_data["dry_run"],
            retract_missing=upload.validated_data["retract_missing"],
        )
        return Response(self.get_serializer(batch).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=ImportApplySerializer, responses={202: ImportSerializer})
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def apply(self, request: ApiRequest, pk: str | None = None) -> Response:
        """Apply a previewed import: all or nothing, or with `valid_only` the rows without errors."""
        body = ImportApplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        batch = imports.import_apply(
            batch=self.get_object(), user=request.user, valid_only=body.validated_data["valid_only"]
        )
        return Response(self.get_serializer(batch).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: ImportSerializer})
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def undo(self, request: ApiRequest, pk: str | None = None) -> Response:
        """Undo an applied import: what it created is deleted (or retracted), what it changed restored."""
        batch = imports.import_undo(batch=self.get_object(), user=request.user)
        return Response(self.get_serializer(batch).data)


def settings_max_bytes() -> int:
    return int(settings.IMPORT_MAX_BYTES)
