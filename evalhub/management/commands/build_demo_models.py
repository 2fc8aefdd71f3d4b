"""python manage.py build_demo_models [--out DIR] [--force] [--seed N] [--set KEY=VALUE ...]

Builds the tiny demo models on this machine, offline (``evalhub.generation.demo_models``): a
tokenizer, a small Llama-style base and a LoRA adapter that answers in a warmer style. Then
registers both as model versions, in one transaction (never one without the other): the base
(backend local, method base) and the adapter (backend local, method lora, parent = the base),
named from the build's manifest.

Idempotent: when both are registered and their folders are there, it does nothing (``--force``
rebuilds and points the registrations at the new files). Default folder:
``$EVALHUB_DATA_DIR/models/demo``. ``--set`` changes a build setting (``DemoBuildConfig``), e.g.
``--set base_steps=40 --set adapter_steps=30`` for a quicker, rougher build.

The demo versions generate greedily (temperature 0): reproducible, and the local backend batches
greedy requests.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from evalhub.management.commands._base import ServiceCommand
from evalhub.models import ModelVersion

DEMO_DEFAULTS = {"temperature": 0.0, "top_p": 1.0, "max_tokens": 96, "seed": None}


def _config_overrides(pairs: list[str]) -> dict[str, Any]:
    from evalhub.generation.demo_models import DemoBuildConfig

    fields = {f.name: f for f in dataclasses.fields(DemoBuildConfig)}
    defaults = DemoBuildConfig()
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in fields or not value:
            raise CommandError(f"--set {pair!r}: use KEY=VALUE with KEY one of {sorted(fields)}")
        current = getattr(defaults, key)
        try:
            if isinstance(current, tuple):
                overrides[key] = tuple(v.strip() for v in value.split(",") if v.strip())
            else:
                overrides[key] = type(current)(value)
        except ValueError as exc:
            raise CommandError(f"--set {pair!r}: {exc}") from exc
    return overrides


class Command(ServiceCommand):
    help = "Build the tiny demo base model and LoRA adapter here, and register both."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", default=None, help="Folder (default DATA_DIR/models/demo).")
        parser.add_argument("--force", action="store_true", help="Rebuild even if registered.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="A build setting (DemoBuildConfig field), e.g. base_steps=40.",
        )

    def run(self, *args: Any, **o: Any) -> None:
        out = Path(o["out"] or Path(settings.DATA_DIR) / "models" / "demo").resolve()
        overrides = _config_overrides(o["set"])
        registered = self._registered(out)
        if registered and not o["force"]:
            base, adapter = registered
            self.stdout.write(
                f"demo models already built and registered: {base.name} (id {base.pk}) and "
                f"{adapter.name} (id {adapter.pk}) at {out}; nothing to do (--force rebuilds)"
            )
            return
        manifest = self._build(out, seed=o["seed"], overrides=overrides)
        base, adapter = self._register(out, manifest)
        self.stdout.write(
            f"registered {base.name} (id {base.pk}, base) and {adapter.name} (id {adapter.pk}, "
            f"LoRA adapter of {base.name})\n"
            f"  generate a campaign with them: python manage.py generate CAMPAIGN --inline"
        )

    def _registered(self, out: Path) -> tuple[ModelVersion, ModelVersion] | None:
        """The registered (base, adapter) built in ``out``, if both are there with their files."""
        manifest_path = out / "manifest.json"
        if not manifest_path.is_file():
            return None
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        base = ModelVersion.objects.filter(name=manifest["base_name"]).first()
        adapter = ModelVersion.objects.filter(name=manifest["adapter_name"]).first()
        if base is None or adapter is None or adapter.parent_id != base.pk:
            return None
        if not (
            Path(base.path).is_dir() and (Path(adapter.path) / "adapter_config.json").is_file()
        ):
            return None
        return base, adapter

    def _build(self, out: Path, *, seed: int, overrides: dict[str, Any]) -> dict[str, Any]:
        from evalhub.generation.demo_models import DemoBuildConfig, build_demo_models

        config = DemoBuildConfig(**overrides)
        self.stdout.write(f"building the demo models in {out} (seed {seed}, CPU, a few minutes)")
        bars: dict[str, tqdm] = {}
        stage_started: dict[str, float] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in bars:
                stage_started[stage] = time.perf_counter()
                bars[stage] = tqdm(
                    total=total,
                    desc=stage,
                    unit="step",
                    file=getattr(self.stderr, "_out", sys.stderr),
                )
            bar = bars[stage]
            bar.n = done
            bar.refresh()
            if done >= total and not bar.disable:
                bar.close()
                bar.disable = True
                seconds = time.perf_counter() - stage_started[stage]
                self.stdout.write(f"  {stage}: done in {seconds:.1f} s")

        started = time.perf_counter()
        try:
            paths = build_demo_models(out, seed=seed, progress=progress, config=config)
        finally:
            for bar in bars.values():
                bar.close()
        manifest = json.loads(Path(paths["manifest"]).read_text(encoding="utf-8"))
        loss = manifest.get("base_loss", {}), manifest.get("adapter_loss", {})
        self.stdout.write(
            f"built in {time.perf_counter() - started:.1f} s: base loss "
            f"{loss[0].get('first', 0):.2f} -> {loss[0].get('last', 0):.2f}, adapter loss "
            f"{loss[1].get('first', 0):.2f} -> {loss[1].get('last', 0):.2f}"
        )
        return manifest

    @transaction.atomic
    def _register(self, out: Path, manifest: dict[str, Any]) -> tuple[ModelVersion, ModelVersion]:
        base_path = str((out / manifest["base"]).resolve())
        adapter_path = str((out / manifest["adapter"]).resolve())
        base, _ = ModelVersion.objects.update_or_create(
            name=manifest["base_name"],
            defaults={
                "backend": ModelVersion.Backend.LOCAL,
                "method": ModelVersion.Method.BASE,
                "path": base_path,
                "served_name": manifest["base_name"],
                "parent": None,
                "description": "Tiny demo base model built by manage.py build_demo_models.",
            },
            create_defaults={
                "backend": ModelVersion.Backend.LOCAL,
                "method": ModelVersion.Method.BASE,
                "path": base_path,
                "served_name": manifest["base_name"],
                "description": "Tiny demo base model built by manage.py build_demo_models.",
                **DEMO_DEFAULTS,
            },
        )
        adapter_fields = {
            "backend": ModelVersion.Backend.LOCAL,
            "method": ModelVersion.Method.LORA,
            "path": adapter_path,
            "served_name": manifest["adapter_name"],
            "parent": base,
            "description": "Tiny demo LoRA adapter (warmer answers) built by build_demo_models.",
        }
        adapter, _ = ModelVersion.objects.update_or_create(
            name=manifest["adapter_name"],
            defaults=adapter_fields,
            create_defaults={**adapter_fields, **DEMO_DEFAULTS},
        )
        return base, adapter
