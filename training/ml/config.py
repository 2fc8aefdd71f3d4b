"""Run configuration: one frozen dataclass per method, every field documented.

Defaults are TRL's (DPO: Rafailov et al. 2023, beta 0.1) unless noted; TRL's GPU-oriented
defaults that break CPU runs (bf16 on, activation checkpointing on) are decided per device at
run time instead (``bf16=None``, ``gradient_checkpointing=None`` mean "auto"). Validation lives in
``__post_init__`` and says what to change.

A config travels as JSON: ``config_to_dict`` / ``config_from_dict`` (``{"method": "dpo", ...}``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

METHODS = ("dpo", "sft", "reward")
DEFAULT_TARGET_MODULES = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)
DPO_LOSS_TYPES = frozenset(
    {
        "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard",
        "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
    }
)  # fmt: skip
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A run configuration that cannot work; the message says which field and what to change."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True)
class LoraSettings:
    """The LoRA adapter trained on top of the frozen base (``peft.LoraConfig``)."""

    r: int = 16
    """Rank of the update matrices. 8-64 is usual; larger learns more and costs more memory."""
    alpha: int = 32
    """Scaling numerator: the update is multiplied by alpha / r (2 x r is a common choice)."""
    dropout: float = 0.05
    """Dropout on the LoRA input during training (0 for tiny data or exact reproducibility)."""
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    """Linear layers that get an adapter: all attention and MLP projections by default (vLLM
    serves LoRA on each of them)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        _require(self.r >= 1, f"lora.r must be >= 1 (got {self.r}); try 8, 16 or 32.")
        _require(self.alpha >= 1, f"lora.alpha must be >= 1 (got {self.alpha}); try 2 x r.")
        _require(0.0 <= self.dropout < 1.0, f"lora.dropout must be in [0, 1) (got {self.dropout}).")
        _require(
            len(self.target_modules) > 0 and all(self.target_modules),
            "lora.target_modules must name at least one module, e.g. ['q_proj', 'v_proj'].",
        )


@dataclass(frozen=True)
class RunConfig:
    """What every method shares. Use :class:`DPORunConfig`, :class:`SFTRunConfig` or
    :class:`RewardRunConfig`."""

    method: ClassVar[str] = ""

    model_path: str
    """Folder of the base model (weights, config and tokenizer), loaded offline."""
    output_dir: str
    """The run folder: frozen config, metrics.jsonl, checkpoints/, adapter/, result.json."""
    train_file: str
    """JSON lines of training rows in the method's TRL format (conversational)."""
    eval_file: str | None = None
    """Optional JSON lines for evaluation (the dataset's val split)."""
    adapter_path: str | None = None
    """Start from this LoRA adapter instead of a fresh one (continue training). For DPO the
    starting adapter is also the reference model."""
    lora: LoraSettings = field(default_factory=LoraSettings)
    """The adapter's shape (ignored for its shape when ``adapter_path`` is set)."""
    qlora: bool = False
    """Load the base in 4-bit (NF4) and train LoRA on top: needs a CUDA GPU and bitsandbytes."""
    learning_rate: float = 1e-6
    """Peak AdamW learning rate. LoRA usually wants 10-100x the full fine-tuning rate."""
    num_train_epochs: float = 1.0
    """Passes over the training rows (ignored when ``max_steps`` > 0)."""
    max_steps: int = -1
    """Stop after this many optimizer steps; -1 means run ``num_train_epochs``."""
    per_device_train_batch_size: int = 8
    """Rows per device per forward pass (DPO and reward rows each hold two sequences)."""
    gradient_accumulation_steps: int = 1
    """Forward passes per optimizer step: the effective batch is batch x this x devices."""
    max_length: int = 1024
    """Longest tokenized sequence (prompt + answer); longer ones are truncated."""
    warmup_ratio: float = 0.1
    """Share of the steps spent ramping the learning rate up from zero."""
    lr_scheduler_type: str = "linear"
    """Decay after warmup: linear, cosine, constant, ... (transformers' names)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    seed: int = 42
    """Seeds data order, dropout and the fresh adapter's initialisation."""
    logging_steps: int = 1
    """Report loss and metrics every this many steps (each report is one progress line)."""
    save_steps: int = 50
    """Write a resumable checkpoint every this many steps."""
    save_total_limit: int = 2
    """Checkpoints kept on disk (the oldest are deleted)."""
    eval_steps: int | None = None
    """Evaluate on ``eval_file`` every this many steps; None evaluates once at the end."""
    resume_from_checkpoint: str | None = None
    """A checkpoint folder (of this or an earlier run) to resume from. Whatever this says, a run
    whose own folder already holds checkpoints resumes from its latest one."""
    device: str = "auto"
    """auto (CUDA when present), cpu or cuda."""
    bf16: bool | None = None
    """bfloat16 mixed precision; None means on for a CUDA device that supports it, off on CPU."""
    gradient_checkpointing: bool | None = None
    """Recompute activations to save memory; None means on for CUDA, off on CPU (slower, and
    nothing to save on tiny models)."""
    num_threads: int | None = None
    """torch CPU threads; None leaves torch's default (set OMP_NUM_THREADS on shared machines)."""

    def __post_init__(self) -> None:
        if isinstance(self.lora, dict):
            object.__setattr__(self, "lora", LoraSettings(**self.lora))
        _require(bool(self.model_path), "model_path must name the base model's folder.")
        _require(bool(self.output_dir), "output_dir must name the run folder.")
        _require(bool(self.train_file), "train_file must name a JSON lines file of rows.")
        _require(
            self.learning_rate > 0,
            f"learning_rate must be > 0 (got {self.learning_rate}); LoRA runs use 1e-5 to 1e-3.",
        )
        _require(
            self.num_train_epochs > 0 or self.max_steps > 0,
            "Set num_train_epochs > 0 or max_steps > 0: the run would train nothing.",
        )
        _require(
            self.max_steps == -1 or self.max_steps > 0,
            f"max_steps must be -1 (use epochs) or > 0 (got {self.max_steps}).",
        )
        for name in ("per_device_train_batch_size", "gradient_accumulation_steps"):
            value = getattr(self, name)
            _require(value >= 1, f"{name} must be >= 1 (got {value}).")
        _require(self.max_length >= 16, f"max_length must be >= 16 tokens (got {self.max_length}).")
        _require(
            0.0 <= self.warmup_ratio < 1.0,
            f"warmup_ratio must be in [0, 1) (got {self.warmup_ratio}); 0.1 is usual.",
        )
        _require(self.weight_decay >= 0, "weight_decay must be >= 0.")
        for name in ("logging_steps", "save_steps", "save_total_limit"):
            value = getattr(self, name)
            _require(value >= 1, f"{name} must be >= 1 (got {value}).")
        _require(
            self.eval_steps is None or self.eval_steps >= 1, "eval_steps must be >= 1 or None."
        )
        _require(self.device in DEVICES, f"device must be one of {DEVICES} (got {self.device!r}).")
        _require(
            not (self.qlora and self.device == "cpu"),
            "qlora needs a CUDA GPU (4-bit bitsandbytes kernels); set qlora=false to train "
            "LoRA in full precision on CPU.",
        )
        _require(
            self.num_threads is None or self.num_threads >= 1, "num_threads must be >= 1 or None."
        )

    @property
    def effective_batch_size(self) -> int:
        return self.per_device_train_batch_size * self.gradient_accumulation_steps


@dataclass(frozen=True)
class DPORunConfig(RunConfig):
    """Direct Preference Optimization (TRL ``DPOTrainer``) on prompt / chosen / rejected rows.

    The reference is the starting point: the base with the adapter switched off, or a frozen
    copy of the starting adapter when ``adapter_path`` is set.
    """

    method: ClassVar[str] = "dpo"

    learning_rate: float = 1e-6
    """TRL's DPO default; a LoRA run usually wants 5e-6 to 5e-5 (1e-3 on tiny test models)."""
    beta: float = 0.1
    """How far the policy may move from the reference (the paper's default). Lower = further."""
    loss_type: tuple[str, ...] = ("sigmoid",)
    """DPO losses to combine: "sigmoid" is the paper's; add "sft" to also raise the chosen
    answer's likelihood (RPO), which makes a small model's greedy text change visibly."""
    loss_weights: tuple[float, ...] | None = None
    """One weight per loss type; None weighs them all 1."""
    label_smoothing: float = 0.0
    """Assumed share of flipped labels (conservative DPO); 0 trusts every pair."""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "loss_type", tuple(self.loss_type))
        if self.loss_weights is not None:
            object.__setattr__(self, "loss_weights", tuple(self.loss_weights))
        _require(self.beta > 0, f"beta must be > 0 (got {self.beta}); 0.1 is the usual value.")
        unknown = sorted(set(self.loss_type) - DPO_LOSS_TYPES)
        _require(
            bool(self.loss_type) and not unknown,
            f"Unknown DPO loss_type {unknown or '(empty)'}; use any of {sorted(DPO_LOSS_TYPES)}.",
        )
        _require(
            self.loss_weights is None or len(self.loss_weights) == len(self.loss_type),
            "loss_weights needs one weight per loss_type entry.",
        )
        _require(
            0.0 <= self.label_smoothing < 0.5, "label_smoothing must be in [0, 0.5) (0 = off)."
        )


@dataclass(frozen=True)
class SFTRunConfig(RunConfig):
    """Supervised fine-tuning (TRL ``SFTTrainer``) on prompt / completion rows."""

    method: ClassVar[str] = "sft"

    learning_rate: float = 2e-5
    """TRL's SFT default; LoRA usually wants 1e-4 to 2e-4."""
    completion_only_loss: bool = True
    """Learn only the answer tokens, not the prompt's."""
    packing: bool = False
    """Pack several short rows into one sequence (faster on GPUs, changes attention masks)."""


@dataclass(frozen=True)
class RewardRunConfig(RunConfig):
    """A reward model (TRL ``RewardTrainer``): the base with a scalar head, trained so that
    chosen scores above rejected (Bradley-Terry loss). The adapter holds the LoRA and the head."""

    method: ClassVar[str] = "reward"

    learning_rate: float = 1e-4
    """TRL's reward-model default."""
    center_rewards_coefficient: float | None = None
    """Pull mean rewards toward zero (0.01 in the InstructGPT-style recipe); None = off."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(
            self.center_rewards_coefficient is None or self.center_rewards_coefficient >= 0,
            "center_rewards_coefficient must be >= 0 or None.",
        )


def config_class(method: str) -> type[RunConfig]:
    match method:
        case "dpo":
            return DPORunConfig
        case "sft":
            return SFTRunConfig
        case "reward":
            return RewardRunConfig
        case _:
            raise ConfigError(f"Unknown method {method!r}; use one of {', '.join(METHODS)}.")


def config_field_names(method: str) -> list[str]:
    return [f.name for f in fields(config_class(method))]


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Build a config from JSON; unknown keys are refused by name (a typo never passes)."""
    values = dict(data)
    cls = config_class(str(values.pop("method", "")))
    allowed = set(config_field_names(cls.method))
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(
            f"Unknown {cls.method} setting(s) {unknown}; allowed: {', '.join(sorted(allowed))}."
        )
    lora = values.get("lora")
    if isinstance(lora, dict):
        lora_allowed = {f.name for f in fields(LoraSettings)}
        bad = sorted(set(lora) - lora_allowed)
        if bad:
            raise ConfigError(f"Unknown lora setting(s) {bad}; allowed: {sorted(lora_allowed)}.")
        values["lora"] = LoraSettings(**lora)
    try:
        return cls(**values)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"Incomplete {cls.method} config: {exc}") from exc


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    data = asdict(config)
    data["lora"]["target_modules"] = list(config.lora.target_modules)
    for key, value in data.items():
        if isinstance(value, tuple):
            data[key] = list(value)
    return {"method": config.method, **data}
