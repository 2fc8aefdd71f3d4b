"""python manage.py vllm_args BASE [--format shell|args|json] [--map-path FROM=TO] [--tensor-parallel-size N]

Prints the ``vllm serve`` command that serves a registered base model together with its
registered LoRA adapters (its children whose folder holds ``adapter_config.json``, or whose method
is lora / qlora), under the names evalhub sends as ``model`` (each version's served name):

    vllm serve /models/base --served-model-name base --enable-lora \\
      --lora-modules warm=/models/adapters/warm ... --max-lora-rank 16 --max-loras 2

``--max-lora-rank`` is the smallest rank vLLM accepts that holds every adapter's ``r`` (read from
its ``adapter_config.json``). Warnings (on stderr) name adapters vLLM cannot serve as they are:
``modules_to_save``, DoRA, LoRA on the embeddings or the LM head, a rank above vLLM's limit, or an
adapter trained on another base. ``--map-path`` rewrites folders to where the GPU host mounts them.
See deploy/vllm/README.md.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from evalhub.management.commands._base import ServiceCommand
from evalhub.models import ModelVersion
from evalhub.selectors.campaigns import model_version_get_by_name

VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's accepted --max-lora-rank
ADAPTER_METHODS = {ModelVersion.Method.LORA, ModelVersion.Method.QLORA}
EMBEDDING_MODULES = {"embed_tokens", "lm_head", "wte", "embed_out", "word_embeddings"}


def _map_path(path: str, mappings: list[tuple[str, str]]) -> str:
    for source, target in mappings:
        if path == source or path.startswith(source.rstrip("/") + "/"):
            return target.rstrip("/") + path[len(source.rstrip("/")) :]
    return path


def _adapter_config(version: ModelVersion) -> dict[str, Any] | None:
    config = Path(version.path) / "adapter_config.json" if version.path else None
    if config is None or not config.is_file():
        return None
    return json.loads(config.read_text(encoding="utf-8"))


def _rank(config: dict[str, Any]) -> int:
    ranks = [
        int(config.get("r") or 0),
        *(int(r) for r in (config.get("rank_pattern") or {}).values()),
    ]
    return max(ranks)


def _adapter_warnings(version: ModelVersion, config: dict[str, Any], base_path: str) -> list[str]:
    name, warnings = version.name, []
    if config.get("modules_to_save"):
        warnings.append(
            f"{name}: modules_to_save={config['modules_to_save']} - vLLM serves only the LoRA "
            "matrices, not fully trained modules: merge this adapter into its base "
            "(peft merge_and_unload) and serve that as its own model, or retrain without "
            "modules_to_save."
        )
    if config.get("use_dora"):
        warnings.append(f"{name}: DoRA adapters are not served by vLLM's LoRA support.")
    targets = config.get("target_modules") or []
    targets = [targets] if isinstance(targets, str) else targets
    if EMBEDDING_MODULES & {str(t).split(".")[-1] for t in targets}:
        warnings.append(
            f"{name}: LoRA on the embeddings / LM head ({targets}) is not supported by recent "
            "vLLM versions; train on the attention and MLP projections only."
        )
    trained_on = config.get("base_model_name_or_path") or ""
    if base_path and trained_on and Path(trained_on).name != Path(base_path).name:
        warnings.append(
            f"{name}: trained on {trained_on!r}, served here on {base_path!r}: an adapter only "
            "works on the exact base it was trained on."
        )
    return warnings


class Command(ServiceCommand):
    help = "Print the `vllm serve` command for a base model and its registered LoRA adapters."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("base", help="Name of the base model version.")
        parser.add_argument("--format", choices=["shell", "args", "json"], default="shell")
        parser.add_argument(
            "--map-path",
            action="append",
            default=[],
            metavar="FROM=TO",
            help="Rewrite a folder prefix to the GPU host's path, e.g. /srv/var/models=/models.",
        )
        parser.add_argument("--tensor-parallel-size", type=int, default=1)
        parser.add_argument("--port", type=int, default=None)
        parser.add_argument(
            "--max-lora-rank", type=int, default=None, help="Override the rank read from files."
        )

    def run(self, *args: Any, **o: Any) -> None:
        base = model_version_get_by_name(o["base"])
        if base.parent_id is not None and _adapter_config(base) is not None:
            raise CommandError(f"{base.name!r} is an adapter; give its base ({base.parent}).")
        mappings = []
        for pair in o["map_path"]:
            source, sep, target = pair.partition("=")
            if not sep or not source or not target:
                raise CommandError(f"--map-path {pair!r}: use FROM=TO")
            mappings.append((source, target))
        plan = self._plan(base, mappings, o)
        for warning in plan["warnings"]:
            self.stderr.write(f"warning: {warning}")
        if o["format"] == "json":
            self.stdout.write(json.dumps(plan, indent=2))
        elif o["format"] == "args":
            self.stdout.write(shlex.join(plan["argv"][2:]))
        else:
            self.stdout.write(self._shell(plan["argv"]))

    def _plan(
        self, base: ModelVersion, mappings: list[tuple[str, str]], o: dict[str, Any]
    ) -> dict[str, Any]:
        model = _map_path(base.path, mappings) if base.path else (base.served_name or base.name)
        served = base.served_name or base.name
        argv = ["vllm", "serve", model, "--served-model-name", served]
        warnings: list[str] = []
        modules: dict[str, str] = {}
        ranks: list[int] = []
        for child in base.children.order_by("name"):
            config = _adapter_config(child)
            if config is None and child.method not in ADAPTER_METHODS:
                warnings.append(
                    f"{child.name}: not a LoRA adapter (no adapter_config.json in "
                    f"{child.path or 'its path'}, method {child.method}); serve it on its own."
                )
                continue
            if config is None:
                warnings.append(
                    f"{child.name}: cannot read {child.path or '(no path)'}/adapter_config.json "
                    "here; its rank is unknown (pass --max-lora-rank)."
                )
            else:
                ranks.append(_rank(config))
                warnings += _adapter_warnings(child, config, base.path)
            modules[child.served_name or child.name] = _map_path(child.path, mappings)
        rank = o["max_lora_rank"] or self._vllm_rank(max(ranks, default=0), warnings)
        if modules:
            argv += ["--enable-lora", "--lora-modules"]
            argv += [f"{name}={path}" for name, path in modules.items()]
            argv += ["--max-lora-rank", str(rank), "--max-loras", str(len(modules))]
        else:
            warnings.append(f"{base.name} has no registered LoRA adapters; serving the base only.")
        if o["tensor_parallel_size"] > 1:
            argv += ["--tensor-parallel-size", str(o["tensor_parallel_size"])]
        if o["port"]:
            argv += ["--port", str(o["port"])]
        return {
            "model": model,
            "served_model_name": served,
            "lora_modules": modules,
            "max_lora_rank": rank if modules else None,
            "argv": argv,
            "warnings": warnings,
        }

    def _vllm_rank(self, rank: int, warnings: list[str]) -> int:
        if rank > VLLM_LORA_RANKS[-1]:
            raise CommandError(
                f"An adapter has rank {rank}; vLLM serves LoRA ranks up to {VLLM_LORA_RANKS[-1]}."
            )
        chosen = next((r for r in VLLM_LORA_RANKS if r >= rank), 16)
        if chosen > 64:
            warnings.append(
                f"--max-lora-rank {chosen}: vLLM reserves memory for every adapter slot at the "
                "largest rank; high ranks cut the KV cache (and batch size) noticeably."
            )
        return chosen

    def _shell(self, argv: list[str]) -> str:
        lines, current = [], shlex.join(argv[:3])
        for token in argv[3:]:
            if token.startswith("--"):
                lines.append(current)
                current = "  " + token
            else:
                current += " " + shlex.quote(token)
        lines.append(current)
        return " \\\n".join(lines)
