"""Tiny demo models built on this machine, offline, from the bundled customer-service prompts.

``build_demo_models(out_dir)`` writes, in about a minute of CPU with one thread:

- ``base/``: a byte-level BPE tokenizer trained with the ``tokenizers`` library on the bundled
  text (saved as ``tokenizer.json`` with a plain tokenizer class, so it reloads exactly; see the
  Qwen2 trap in NOTES.md) with a chat template, and a 2-layer Llama-style causal LM (hidden 128,
  about 0.5 M parameters) trained with a plain torch loop on prompt -> curt baseline answers;
- ``adapters/<DEMO_ADAPTER_NAME>/``: a LoRA adapter (peft) trained on prompt -> warm answers
  (apology or thanks, a concrete next step, a closing), so its answers read differently;
- ``manifest.json``: names, seed, config, losses, timings and library versions.

Register the base under ``DEMO_BASE_NAME`` and the adapter under ``DEMO_ADAPTER_NAME``; serve
both from one copy in memory with :class:`evalhub.generation.local.LocalBackend`.

Deterministic given the seed (and the thread count). torch, transformers and peft are imported
inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalhub.generation.corpus import DemoPrompt, corpus_lines, load_demo_prompts

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEMO_BASE_NAME = "tiny-cs-base"
DEMO_ADAPTER_NAME = "tiny-cs-warm"
PAD, END = "<|pad|>", "<|end|>"
SPECIAL_TOKENS = (PAD, END, "<|system|>", "<|user|>", "<|assistant|>")
# Each message: <|role|>, newline, content, <|end|>, newline. <|end|> is the EOS token.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages: "tokenizer", "base", "adapter", "save"."""

Example = tuple[list[int], list[int]]  # (prompt token ids, answer token ids ending in <|end|>)


@dataclass(frozen=True)
class DemoBuildConfig:
    """Sizes and training lengths. The defaults give clean sentences in about a minute."""

    base_steps: int = 140
    """Steps for the base: prompt -> curt answer (twice) mixed with warm answers as plain text."""
    adapter_steps: int = 80
    """Steps for the LoRA adapter on prompt -> warm answer."""
    batch_size: int = 32
    base_lr: float = 4e-3
    adapter_lr: float = 1e-2
    """LoRA wants a larger learning rate than full fine-tuning."""
    lora_r: int = 16
    lora_alpha: int = 32
    lora_target_modules: tuple[str, ...] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    )
    """All attention and MLP projections; vLLM can serve LoRA on each of them."""
    vocab_size: int = 1024
    hidden_size: int = 128
    intermediate_size: int = 352
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    max_length: int = 256
    """Context length of the model; longer training examples are cut (none are, bundled)."""
    num_threads: int = 1
    """torch threads while building (restored after). Results depend on it."""

    def __post_init__(self) -> None:
        if self.base_steps < 1 or self.adapter_steps < 1:
            raise ValueError("base_steps and adapter_steps must be >= 1")
        if self.batch_size < 1 or self.num_threads < 1:
            raise ValueError("batch_size and num_threads must be >= 1")
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ValueError("hidden_size must divide by num_heads, num_heads by num_kv_heads")
        if self.vocab_size < 300:
            raise ValueError("vocab_size must be >= 300 (256 bytes + special tokens + merges)")


def build_demo_models(
    out_dir: str | Path,
    *,
    seed: int = 0,
    progress: Progress | None = None,
    config: DemoBuildConfig | None = None,
) -> dict[str, Path]:
    """Build the demo tokenizer, base model and LoRA adapter under ``out_dir``.

    Returns ``{"base": ..., "adapter": ..., "manifest": ...}`` (folders and the manifest file).
    Existing files in those folders are overwritten.
    """
    import torch

    config = config or DemoBuildConfig()
    report = progress or (lambda stage, done, total: None)
    out = Path(out_dir)
    base_dir, adapter_dir = out / "base", out / "adapters" / DEMO_ADAPTER_NAME
    threads_before = torch.get_num_threads()
    torch.set_num_threads(config.num_threads)
    timings: dict[str, float] = {}
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        prompts = load_demo_prompts()
        report("tokenizer", 0, 1)
        tokenizer = train_tokenizer(corpus_lines(prompts), vocab_size=config.vocab_size)
        report("tokenizer", 1, 1)
        timings["tokenizer"] = time.perf_counter() - started

        curt = encode_examples(tokenizer, prompts, "baseline_answer", config.max_length)
        warm = encode_examples(tokenizer, prompts, "better_answer", config.max_length)
        # The base also reads the warm answers as plain text (no chat roles), like pretraining:
        # it knows the words, answers curtly in chat, and the adapter only has to change style.
        plain: list[Example] = [([], answer_ids) for _, answer_ids in warm]
        torch.manual_seed(seed)
        model = _new_model(tokenizer, config)
        mark = time.perf_counter()
        base_losses = train_causal_lm(
            model,
            curt + curt + plain,
            steps=config.base_steps,
            lr=config.base_lr,
            batch_size=config.batch_size,
            pad_id=tokenizer.pad_token_id,
            seed=seed,
            on_step=lambda done: report("base", done, config.base_steps),
        )
        timings["base"] = time.perf_counter() - mark
        base_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(base_dir)
        tokenizer.save_pretrained(base_dir)

        mark = time.perf_counter()
        torch.manual_seed(seed + 1)
        peft_model = _with_lora(model, config, base_dir)
        adapter_losses = train_causal_lm(
            peft_model,
            warm,
            steps=config.adapter_steps,
            lr=config.adapter_lr,
            batch_size=config.batch_size,
            pad_id=tokenizer.pad_token_id,
            seed=seed + 1,
            on_step=lambda done: report("adapter", done, config.adapter_steps),
        )
        timings["adapter"] = time.perf_counter() - mark
        report("save", 0, 1)
        adapter_dir.mkdir(parents=True, exist_ok=True)
        peft_model.save_pretrained(adapter_dir, selected_adapters=[DEMO_ADAPTER_NAME])
        _flatten_adapter_dir(adapter_dir)
        timings["total"] = time.perf_counter() - started
        timings["total_cpu"] = time.process_time() - cpu_started
        manifest = _manifest(
            out, seed, config, prompts, model, peft_model, base_losses, adapter_losses, timings
        )
        manifest_path = out / "manifest.json"
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        report("save", 1, 1)
    finally:
        torch.set_num_threads(threads_before)
    return {"base": base_dir, "adapter": adapter_dir, "manifest": manifest_path}


def train_tokenizer(lines: Sequence[str], *, vocab_size: int) -> PreTrainedTokenizerBase:
    """A byte-level BPE tokenizer (exact round trip for any text) with the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    backend.train_from_iterator(lines, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD,
        eos_token=END,
        clean_up_tokenization_spaces=False,  # anything else breaks the exact round trip
        model_max_length=DemoBuildConfig.max_length,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def encode_examples(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[DemoPrompt], answer: str, max_length: int
) -> list[Example]:
    """(prompt ids, answer ids + <|end|>) per prompt, the prompt rendered by the chat template."""
    examples = []
    for prompt in prompts:
        text = tokenizer.apply_chat_template(
            list(prompt.messages()), tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer.encode(text, add_special_tokens=False)
        answer_ids = tokenizer.encode(getattr(prompt, answer), add_special_tokens=False)
        answer_ids.append(tokenizer.eos_token_id)
        examples.append((prompt_ids, answer_ids[: max(1, max_length - len(prompt_ids))]))
    return examples


def train_causal_lm(
    model: Any,
    examples: Sequence[Example],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    pad_id: int,
    seed: int,
    on_step: Callable[[int], None] | None = None,
) -> list[float]:
    """A plain torch loop: AdamW, warmup then cosine to 10%, loss on answer tokens only.

    Trains the parameters that require grad (all of them for the base, LoRA's under peft).
    Returns the loss per step.
    """
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warmup = max(1, steps // 10)

    def schedule(step: int) -> float:
        return min(1.0, (step + 1) / warmup) * (0.1 + 0.45 * (1 + math.cos(math.pi * step / steps)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    batches = _length_bucketed_batches(
        [len(p) + len(a) for p, a in examples], batch_size, torch.Generator().manual_seed(seed)
    )
    losses = []
    model.train()
    for step in range(steps):
        batch = [examples[i] for i in next(batches)]
        input_ids, attention_mask, labels = _collate(batch, pad_id)
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.item()))
        if on_step is not None:
            on_step(step + 1)
    model.eval()
    return losses


def _length_bucketed_batches(
    lengths: Sequence[int], batch_size: int, generator: torch.Generator
) -> Iterator[list[int]]:
    """Endless batches of example indices: each epoch shuffled, then examples of similar length
    put together (within windows of 8 batches) so that little compute goes to padding."""
    import torch

    window = batch_size * 8
    while True:
        order = torch.randperm(len(lengths), generator=generator).tolist()
        batches = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
            batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        for position in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[position]


def _collate(
    batch: Sequence[Example], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    import torch

    width = max(len(p) + len(a) for p, a in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, (prompt_ids, answer_ids) in enumerate(batch):
        ids = prompt_ids + answer_ids
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention_mask[row, : len(ids)] = 1
        labels[row, len(prompt_ids) : len(ids)] = torch.tensor(answer_ids)
    return input_ids, attention_mask, labels


def _new_model(tokenizer: PreTrainedTokenizerBase, config: DemoBuildConfig) -> PreTrainedModel:
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        max_position_embeddings=config.max_length,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,  # unused: the tokenizer adds no BOS
        eos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(model_config)
    model.generation_config = GenerationConfig(
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        max_new_tokens=128,
        do_sample=False,
    )
    return model


def _with_lora(model: PreTrainedModel, config: DemoBuildConfig, base_dir: Path) -> Any:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=0.0,
        target_modules=list(config.lora_target_modules),
        task_type="CAUSAL_LM",
    )
    model.name_or_path = str(base_dir.resolve())  # peft records it in adapter_config.json
    return get_peft_model(model, lora, adapter_name=DEMO_ADAPTER_NAME)


def _flatten_adapter_dir(adapter_dir: Path) -> None:
    """peft saves a non-"default" adapter in a sub-folder named after it; vLLM and
    ``PeftModel.from_pretrained`` want the files at the top of the adapter folder."""
    nested = adapter_dir / DEMO_ADAPTER_NAME
    if nested.is_dir():
        for item in nested.iterdir():
            item.replace(adapter_dir / item.name)
        nested.rmdir()


def _manifest(
    out: Path,
    seed: int,
    config: DemoBuildConfig,
    prompts: Sequence[DemoPrompt],
    model: Any,
    peft_model: Any,
    base_losses: Sequence[float],
    adapter_losses: Sequence[float],
    timings: dict[str, float],
) -> dict[str, Any]:
    import peft
    import torch
    import transformers

    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    base_params = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    return {
        "base_name": DEMO_BASE_NAME,
        "adapter_name": DEMO_ADAPTER_NAME,
        "base": "base",
        "adapter": f"adapters/{DEMO_ADAPTER_NAME}",
        "seed": seed,
        "config": asdict(config),
        "prompts": len(prompts),
        "base_parameters": base_params,
        "adapter_parameters": trainable,
        "base_loss": {"first": base_losses[0], "last": _tail_mean(base_losses)},
        "adapter_loss": {"first": adapter_losses[0], "last": _tail_mean(adapter_losses)},
        "seconds": {name: round(value, 2) for name, value in timings.items()},
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
    }


def _tail_mean(losses: Sequence[float], k: int = 5) -> float:
    tail = losses[-k:]
    return sum(tail) / len(tail)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m evalhub.generation.demo_models OUT_DIR [--seed N] [--threads N]``."""
    import argparse

    parser = argparse.ArgumentParser(description="Build the tiny demo models.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    def show(stage: str, done: int, total: int) -> None:
        if done == total or done % 20 == 0:
            print(f"{stage:>9}: {done}/{total}", flush=True)

    paths = build_demo_models(
        args.out_dir,
        seed=args.seed,
        progress=show,
        config=DemoBuildConfig(num_threads=args.threads),
    )
    manifest = json.loads(paths["manifest"].read_text(encoding="utf-8"))
    seconds = manifest["seconds"]
    print(
        f"built in {seconds['total']:.1f} s wall, {seconds['total_cpu']:.1f} s CPU "
        f"(tokenizer {seconds['tokenizer']:.1f} s, base {seconds['base']:.1f} s, "
        f"adapter {seconds['adapter']:.1f} s); loss base {manifest['base_loss']['first']:.2f} "
        f"-> {manifest['base_loss']['last']:.2f}, adapter {manifest['adapter_loss']['first']:.2f} "
        f"-> {manifest['adapter_loss']['last']:.2f}"
    )
    for name, path in paths.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
