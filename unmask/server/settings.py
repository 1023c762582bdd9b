"""Settings of one ``unmask serve`` process, shared by the web app and its worker processes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from unmask.config import ScanOptions

DAY_S = 24 * 3600.0

# Job ids are uuid4 hex; checking the shape before any path is built from one means a
# crafted id ("../../etc") can never reach the file system.
JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")

LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``unmask serve`` is told (see ``unmask serve --help`` for each flag).

    Parameters
    ----------
    data_dir : Path
        Uploads live in ``data_dir/uploads/<id[:2]>/<id>``, named by job id only.
    db_url : str
        SQLite file path or ``postgresql://`` URL of the job table.
    workers : int, default=2
        Scanning processes; each loads the detectors once.
    options : ScanOptions
        Limits and detector selection for every scan; ``options.limits.max_file_bytes``
        is also the largest upload accepted.
    require_keys : bool, default=False
        Every ``/v1`` request needs an API key.
    uploads_per_min : float, default=60
        Uploads allowed per key (or per client address without keys), as a token bucket
        with that many tokens; 0 turns the limit off.
    lease_s : float, default=30
        How long a claimed job stays a worker's without a heartbeat; a killed worker's
        job is claimable again after this.
    keep_uploads_s : float, default=0
        How long an upload is kept after its scan finished (0: deleted at once).
    retention_s : float, default=30 days
        How long finished jobs and their reports are kept.
    """

    data_dir: Path
    db_url: str
    workers: int = 2
    options: ScanOptions = field(default_factory=ScanOptions)
    require_keys: bool = False
    uploads_per_min: float = 60.0
    lease_s: float = 30.0
    poll_s: float = 0.1
    keep_uploads_s: float = 0.0
    retention_s: float = 30 * DAY_S
    janitor_every_s: float = 60.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.lease_s <= 0:
            raise ValueError(f"lease_s must be positive seconds, got {self.lease_s}")

    @property
    def max_upload_bytes(self) -> int:
        return self.options.limits.max_file_bytes

    @property
    def uploads_dir(self) -> Path:
        return Path(self.data_dir) / "uploads"

    def upload_path(self, job_id: str) -> Path:
        if not JOB_ID_RE.match(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.uploads_dir / job_id[:2] / job_id
