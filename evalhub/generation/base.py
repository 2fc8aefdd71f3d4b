"""The one generation interface every backend implements (pure: no Django, no torch).

A caller builds :class:`GenerationRequest` objects (messages + model + :class:`SamplingParams`)
and hands a batch to a :class:`Backend`. The backend returns one :class:`GenerationResult` per
request, in request order. A request that fails becomes a result with ``error`` set; one bad
request never raises for the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

ROLES = frozenset({"system", "user", "assistant"})
FINISH_REASONS = frozenset({"stop", "length"})

Message = Mapping[str, str]


class GenerationError(Exception):
    """A generation call failed; the message always names the endpoint and the model.

    ``retryable`` says whether the failure was transient (429, 5xx, connection, timeout);
    ``status`` is the HTTP status when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        model: str,
        status: int | None = None,
        retryable: bool = False,
        attempts: int = 1,
    ) -> None:
        self.reason = message
        self.endpoint = endpoint
        self.model = model
        self.status = status
        self.retryable = retryable
        self.attempts = attempts
        super().__init__(self._render())

    def _render(self) -> str:
        tries = "" if self.attempts == 1 else f" (after {self.attempts} attempts)"
        return f"{self.endpoint} model {self.model!r}: {self.reason}{tries}"

    def with_attempts(self, attempts: int) -> GenerationError:
        return GenerationError(
            self.reason,
            endpoint=self.endpoint,
            model=self.model,
            status=self.status,
            retryable=self.retryable,
            attempts=attempts,
        )


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature == 0`` means greedy; ``seed=None`` means unseeded."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = None
    n: int = 1
    stop: Sequence[str] = ()
    """Stop strings; stored as a tuple so that parameters stay hashable."""

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.n < 1:
            raise ValueError(f"n (samples per prompt) must be >= 1, got {self.n}")
        if any(not s for s in self.stop):
            raise ValueError("stop strings must be non-empty")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to one model. ``model`` is a served name: a base name or a LoRA adapter name."""

    request_id: str
    messages: Sequence[Message]
    """``{"role", "content"}`` dicts (see :func:`build_messages`); stored as a tuple."""
    model: str
    params: SamplingParams = field(default_factory=SamplingParams)

    def __post_init__(self) -> None:
        messages = tuple(dict(m) for m in self.messages)
        object.__setattr__(self, "messages", messages)
        if not self.request_id:
            raise ValueError("request_id must be non-empty")
        if not self.model:
            raise ValueError(f"request {self.request_id!r}: model must be non-empty")
        if not messages:
            raise ValueError(f"request {self.request_id!r}: messages must be non-empty")
        for message in messages:
            if set(message) != {"role", "content"} or message["role"] not in ROLES:
                raise ValueError(
                    f"request {self.request_id!r}: each message needs exactly 'role' "
                    f"(one of {sorted(ROLES)}) and 'content', got {message!r}"
                )


@dataclass(frozen=True)
class Completion:
    """One sampled answer. ``finish_reason`` is "stop" (end of answer or a stop string) or
    "length" (hit max_tokens)."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class GenerationResult:
    """The outcome of one request: ``n`` completions, or none and ``error`` set.

    ``latency_ms`` is wall time from the first attempt to the final answer, retries included.
    """

    request_id: str
    completions: Sequence[Completion]
    """``n`` completions (stored as a tuple), or none when ``error`` is set."""
    latency_ms: float
    error: str | None = None
    attempts: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "completions", tuple(self.completions))

    @property
    def ok(self) -> bool:
        return self.error is None


OnResult = Callable[[GenerationResult], None]


@runtime_checkable
class Backend(Protocol):
    """What every generation backend offers.

    ``generate`` returns one result per request, in request order. ``on_result`` is called in the
    caller's thread as each result arrives (in completion order), so a job can record progress
    and save outputs as they come; if it raises, pending requests are cancelled and the exception
    propagates.
    """

    def generate(
        self, requests: Sequence[GenerationRequest], *, on_result: OnResult | None = None
    ) -> list[GenerationResult]: ...

    def list_models(self) -> list[str]: ...


def build_messages(
    system: str | None = None,
    history: Iterable[Sequence[str]] = (),
    instruction: str = "",
    input: str | None = None,
) -> tuple[dict[str, str], ...]:
    """Chat messages from a prompt's Alpaca-style fields.

    ``history`` holds [user, assistant] turns that came before. The last user message is the
    instruction, followed by the input (if any) after a blank line, as in Alpaca.
    """
    messages: list[dict[str, str]] = []
    if system and system.strip():
        messages.append({"role": "system", "content": system})
    for turn in history:
        if len(turn) != 2:
            raise ValueError(f"each history turn must be [user, assistant], got {turn!r}")
        user, assistant = turn
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    content = instruction
    if input and input.strip():
        content = f"{instruction}\n\n{input}" if instruction else input
    if not content.strip():
        raise ValueError("a prompt needs an instruction or an input")
    messages.append({"role": "user", "content": content})
    return tuple(messages)


def ensure_unique_ids(requests: Sequence[GenerationRequest]) -> None:
    seen: set[str] = set()
    for request in requests:
        if request.request_id in seen:
            raise ValueError(f"duplicate request_id {request.request_id!r} in one batch")
        seen.add(request.request_id)
