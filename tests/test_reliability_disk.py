"""A full disk during an export: a clear error, no partial file registered (or left where the
user asked for it), and success once space is back.

The disk is a real small filesystem: a tmpfs mounted for the test (root only; the tests skip
with the reason elsewhere) and filled to the last few kilobytes, so writes fail with ENOSPC in
the middle of an export, exactly as on a full volume. The report CSV is also written to
/dev/full, which fails every write.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.test_generation_worker import _worker_env
from tests.test_training_helpers import add_votes, campaign_with_texts

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.reliability


class SmallDisk:
    """A tmpfs of ``size`` bytes; ``fill(leave=...)`` takes all but ``leave`` bytes of it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / ".filler"

    def fill(self, *, leave: int = 0) -> None:
        with contextlib.suppress(OSError), self.filler.open("ab", buffering=0) as handle:
            while True:
                handle.write(b"\0" * 4096)
        if leave:
            size = self.filler.stat().st_size
            os.truncate(self.filler, max(0, size - leave))

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def small_disk() -> Iterator[SmallDisk]:
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a disk that can fill up) needs root on Linux")
    path = Path(tempfile.mkdtemp(prefix="evalhub-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        path.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
        path.rmdir()


def _frozen_dataset(settings, data_dir: Path, name: str = "disk-ds"):
    from training.services.datasets import dataset_version_freeze
    from training.services.pairs import pairs_build

    settings.DATA_DIR = data_dir
    texts = [
        (
            f"Question {i}: where is parcel {i * 7919} and why is it late?",
            f"Curt {i}.",
            f"Warm answer {i}.",
        )
        for i in range(60)
    ]
    campaign = campaign_with_texts(f"{name}-campaign", texts)
    add_votes(campaign, [["candidate", "candidate"]] * len(texts))
    pairs_build(campaigns=[campaign])
    return dataset_version_freeze(name=name)


def _complete_files(folder: Path) -> dict[str, str]:
    """sha256 of every final (non-temporary) file under ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.endswith(".tmp") and p.name != ".filler"
    }


@pytest.mark.django_db
def test_dataset_export_to_a_full_disk(settings, tmp_path, small_disk):
    dataset = _frozen_dataset(settings, tmp_path / "var")
    out = small_disk.path / "train.jsonl"
    small_disk.fill(leave=4096)
    with pytest.raises(CommandError, match="No space left on device"):
        call_command(
            "dataset_export", dataset.name, "--format", "trl", "--split", "all", "--out", str(out)
        )
    assert not out.exists(), f"a partial file of {out.stat().st_size} bytes was left at --out"
    small_disk.free()
    call_command(
        "dataset_export", dataset.name, "--format", "trl", "--split", "all", "--out", str(out)
    )
    assert [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.django_db(transaction=True)
def test_dataset_export_after_space_is_back_is_complete(settings, tmp_path, small_disk):
    """Whatever the failure looked like, once space is back the export is whole and equal to
    the frozen version's recorded fingerprint."""
    dataset = _frozen_dataset(settings, tmp_path / "var")
    out = small_disk.path / "train.jsonl"
    small_disk.fill(leave=4096)
    with contextlib.suppress(CommandError, OSError):
        call_command(
            "dataset_export", dataset.name, "--format", "trl", "--split", "all", "--out", str(out)
        )
    small_disk.free()
    call_command(
        "dataset_export", dataset.name, "--format", "trl", "--split", "all", "--out", str(out)
    )
    recorded = dataset.exports["trl"]["all"]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == recorded["sha256"]
    assert len(out.read_text().splitlines()) == recorded["rows"] > 0


@pytest.mark.django_db(transaction=True)
def test_freezing_onto_a_full_disk_fails_the_job_then_its_retry_finishes(settings, small_disk):
    """The freeze job writes the exports under DATA_DIR: on a full disk the job fails with the
    reason, no export is registered, no final file is partial; its Retry finishes the exports
    of the same version once space is back (no second version)."""
    from evalhub.models import Job
    from evalhub.services.jobs import job_retry
    from training.models import DatasetVersion
    from training.services.jobs import dataset_freeze_enqueue
    from training.services.pairs import pairs_build
    from training.tasks import dataset_freeze_task

    settings.DATA_DIR = small_disk.path / "var"
    texts = [
        (f"Question {i}: is order {i * 104729} lost?", f"Curt {i}.", f"Warm {i}.")
        for i in range(80)
    ]
    campaign = campaign_with_texts("full-campaign", texts)
    add_votes(campaign, [["candidate", "candidate"]] * len(texts))
    pairs_build(campaigns=[campaign])
    small_disk.fill(leave=8192)

    job = dataset_freeze_enqueue(name="full-ds", filters={"campaigns": [campaign.pk]})
    dataset_freeze_task.call(job.pk)
    job.refresh_from_db()
    assert job.state == "failed" and "No space left on device" in job.error
    version = DatasetVersion.objects.get(name="full-ds")
    assert not version.exports  # nothing registered
    folder = settings.DATA_DIR / "datasets"
    for relative in _complete_files(folder):  # files in place are whole, never half-written
        assert not relative.endswith(".tmp")

    small_disk.free()
    dataset_freeze_task.call(job_retry(job=job).pk)
    job.refresh_from_db()
    version.refresh_from_db()
    assert job.state == "succeeded", job.error
    assert DatasetVersion.objects.filter(name="full-ds").count() == 1
    assert Job.objects.count() == 1
    files = _complete_files(folder)
    for fmt, splits in version.exports.items():
        for split, recorded in splits.items():
            name = f"{fmt}/{split}.json" if fmt == "alpaca" else f"{fmt}/{split}.jsonl"
            matches = [sha for path, sha in files.items() if path.endswith(name)]
            assert matches == [recorded["sha256"]], (fmt, split)
    assert not list(folder.rglob("*.tmp"))


@pytest.mark.django_db(transaction=True)
def test_report_csv_to_a_full_device_fails_loudly_then_succeeds(settings, tmp_path):
    """`manage.py report --format csv > /dev/full`: a non-zero exit naming the cause; the same
    command to a file afterwards writes the whole CSV."""
    from tests.factories import open_campaign_with_outputs

    campaign = open_campaign_with_outputs(n_prompts=3, votes_per_prompt=1, name="csv")
    env = _worker_env(settings)
    command = [
        sys.executable,
        "manage.py",
        "report",
        str(campaign.pk),
        "--format",
        "csv",
        "--no-bootstrap",
    ]
    with open("/dev/full", "w") as full:
        failed = subprocess.run(
            command, cwd=ROOT, env=env, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert failed.returncode != 0
    assert "No space left on device" in failed.stderr
    target = tmp_path / "report.csv"
    with target.open("w") as handle:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert rows[0]["slice_type"] == "overall" and rows[0]["n_votes"] == "0"


@pytest.mark.django_db(transaction=True)
def test_cli_freeze_onto_a_full_disk_recovers_its_exports(settings, small_disk):
    from training.models import DatasetVersion
    from training.services.pairs import pairs_build

    settings.DATA_DIR = small_disk.path / "var"
    texts = [
        (f"Question {i}: is order {i * 104729} lost?", f"Curt {i}.", f"Warm {i}.")
        for i in range(80)
    ]
    campaign = campaign_with_texts("cli-full", texts)
    add_votes(campaign, [["candidate", "candidate"]] * len(texts))
    pairs_build(campaigns=[campaign])
    small_disk.fill(leave=8192)
    with pytest.raises(CommandError, match="No space left on device"):
        call_command("dataset_freeze", "cli-ds", "--campaign", campaign.name, verbosity=0)
    small_disk.free()
    out = small_disk.path / "out.jsonl"
    call_command("dataset_export", "cli-ds", "--format", "trl", "--split", "all", "--out", str(out))
    version = DatasetVersion.objects.get(name="cli-ds")
    assert version.exports["trl"]["all"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
