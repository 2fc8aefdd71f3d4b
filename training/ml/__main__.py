"""Command line: ``python -m training.ml train --config run.json`` | ``estimate MODEL_DIR``.

``train`` prints one JSON event per line on stdout (see ``training.ml.events``) and exits 0 when
the adapter is written and loads, 2 for a config that cannot work, 1 for any other failure (the
last line is then an ``error`` event with the reason).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback

from training.ml.config import ConfigError, config_from_dict
from training.ml.events import print_event


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.ml")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="Run one training run from a JSON config.")
    run.add_argument("--config", required=True, help='JSON file: {"method": "dpo", ...}')
    run.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                     help="Override one setting, e.g. --set max_steps=10")  # fmt: skip
    estimate = commands.add_parser("estimate", help="Memory for full FT / LoRA / QLoRA.")
    estimate.add_argument("model_dir")
    estimate.add_argument("--batch-size", type=int, default=8)
    estimate.add_argument("--seq-len", type=int, default=1024)
    estimate.add_argument("--lora-r", type=int, default=16)
    estimate.add_argument("--method", choices=["dpo", "sft", "reward"], default="dpo")
    args = parser.parse_args(argv)
    if args.command == "estimate":
        return _estimate(args)
    return _train(args)


def _train(args: argparse.Namespace) -> int:
    from training.ml.train import train

    try:
        with open(args.config, encoding="utf-8") as handle:
            data = json.load(handle)
        for item in args.set:
            key, _, value = item.partition("=")
            data[key] = json.loads(value)
        config = config_from_dict(data)
    except (OSError, ValueError) as exc:  # ConfigError is a ValueError
        print_event({"event": "error", "kind": "config", "message": str(exc)})
        return 2
    try:
        train(config)
    except ConfigError as exc:
        print_event({"event": "error", "kind": "config", "message": str(exc)})
        return 2
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        print_event({"event": "error", "kind": type(exc).__name__, "message": str(exc)})
        return 1
    return 0


def _estimate(args: argparse.Namespace) -> int:
    from training.ml.memory import estimate_memory, read_model_shape

    shape = read_model_shape(args.model_dir)
    rows = estimate_memory(
        shape,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        lora_r=args.lora_r,
        sequences_per_row=1 if args.method == "sft" else 2,
    )
    print(
        json.dumps({"params": shape.n_params, "estimates": [r.as_dict() for r in rows]}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
