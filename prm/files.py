"""Private uploads are streamed through Django after an access check; they never get a public URL."""

from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _


def file_download(field_file: FieldFile | None) -> FileResponse:
    if not field_file:
        raise Http404
    return FileResponse(field_file.open("rb"), as_attachment=True, filename=PurePosixPath(field_file.name).name)


@deconstructible
class UploadValidator:
    """Checks an upload's extension and size, with the same messages everywhere (lessons, library, disputes)."""

    def __init__(self, extensions: tuple[str, ...], max_mb: int):
        self.extensions = tuple(extensions)
        self.max_mb = max_mb
        self.max_bytes = max_mb * 1024 * 1024

    def __call__(self, value) -> None:
        ext = PurePosixPath(value.name).suffix.lower().lstrip(".")
        if ext not in self.extensions:
            raise ValidationError(
                _("Unsupported file type “%(ext)s”. Allowed: %(allowed)s."),
                code="file_type",
                params={"ext": ext or "?", "allowed": ", ".join(self.extensions)},
            )
        if value.size is not None and value.size > self.max_bytes:
            raise ValidationError(_("The file is larger than %(mb)s MB."), code="file_size", params={"mb": self.max_mb})

    def __eq__(self, other):
        return (
            isinstance(other, UploadValidator) and self.extensions == other.extensions and self.max_mb == other.max_mb
        )
