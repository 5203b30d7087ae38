"""
Bulk import (docs/api.md, "Imports"): spreadsheets (CSV, XLSX, ODS), HXL-tagged files
and conflict-event data sets, read row by row into the same serializers and write
services as the API, so that an imported row is checked, refused or saved exactly as
the same figure sent on its own would be.

- readers.py   bytes → a table of cells (format detection, encodings, size limits)
- columns.py   a table's columns → a resource's fields (names, HXL hashtags)
- resources.py what can be imported, and through which serializer and service
- services.py  preview, apply and undo a batch (tracker.models.ImportBatch)
"""
