"""What the MCP server may do beyond reading: its options, checked from user input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._errors import ConfigurationError


@dataclass(frozen=True)
class ServerOptions:
    """What the MCP server may do beyond reading.

    ``allow_create`` lets ``create_job`` start jobs, ``allow_deploy`` lets
    ``deploy_checkpoint`` deploy models and ``delete_model`` delete them (a dry run is always
    allowed); ``allow_upload`` lets ``upload_file`` send files, which must lie under ``root``
    (a resolved directory), the only place ``check_data_file`` reads too.
    """

    allow_create: bool = False
    allow_upload: bool = False
    root: Path | None = None
    allow_deploy: bool = False

    @classmethod
    def checked(
        cls,
        *,
        allow_create: bool,
        allow_upload: bool,
        root: str | Path | None,
        allow_deploy: bool = False,
    ) -> ServerOptions:
        """Options from user input: ``root`` must be an existing directory, and uploads need
        one. Raises ``ConfigurationError`` naming the flag."""
        resolved = None
        if root is not None:
            resolved = Path(root).expanduser().resolve()
            if not resolved.is_dir():
                raise ConfigurationError(f"--root must be an existing directory, got {root}")
        if allow_upload and resolved is None:
            raise ConfigurationError(
                "--allow-upload needs --root DIR: the directory files may be uploaded from"
            )
        return cls(
            allow_create=allow_create,
            allow_upload=allow_upload,
            root=resolved,
            allow_deploy=allow_deploy,
        )
