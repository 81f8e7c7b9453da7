"""Private uploads are streamed through Django after an access check; they never get a public URL."""

from pathlib import PurePosixPath

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404


def file_download(field_file: FieldFile | None) -> FileResponse:
    if not field_file:
        raise Http404
    return FileResponse(field_file.open("rb"), as_attachment=True, filename=PurePosixPath(field_file.name).name)
