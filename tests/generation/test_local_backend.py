"""Tiny demo models built for real (short training) and the local transformers + peft backend."""

from __future__ import annotations

import importlib.util
import json

import pytest

from evalhub.generation import GenerationError, GenerationRequest, SamplingParams, build_messages
from evalhub.generation.corpus import corpus_lines, load_demo_prompts
from evalhub.generation.demo_models import (
    DEMO_ADAPTER_NAME,
    DEMO_BASE_NAME,
    DemoBuildConfig,
    build_demo_models,
)

pytestmark = [
    pytest.mark.ml,
    pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs the ml extra"),
]

# Far shorter than the default build (base answers are not yet clean sentences), enough to test
# the plumbing and that the adapter changes the style.
QUICK = DemoBuildConfig(base_steps=80, adapter_steps=40, batch_size=16, base_lr=5e-3)


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    stages: list[str] = []
    paths = build_demo_models(
        tmp_path_factory.mktemp("demo-models"),
        seed=0,
        config=QUICK,
        progress=lambda stage, done, total: stages.append(stage),
    )
    paths["stages"] = stages
    return paths


@pytest.fixture(scope="session")
def backend(demo_models):
    from evalhub.generation.local import LocalBackend

    local = LocalBackend(
        demo_models["base"],
        base_name=DEMO_BASE_NAME,
        adapters={DEMO_ADAPTER_NAME: demo_models["adapter"]},
        device="cpu",
        num_threads=1,
    )
    local.load()
    return local


def requests_for(prompts, model, tag="", **params):
    params.setdefault("temperature", 0)
    params.setdefault("max_tokens", 40)
    return [
        GenerationRequest(
            f"{p.external_id}-{model}{tag}", p.messages(), model, SamplingParams(**params)
        )
        for p in prompts
    ]


def texts(results):
    assert all(r.ok for r in results), [r.error for r in results]
    return [r.completions[0].text for r in results]


def test_build_writes_models_whose_losses_fell(demo_models):
    manifest = json.loads(demo_models["manifest"].read_text())
    assert manifest["base_name"] == DEMO_BASE_NAME and manifest["adapter_name"] == DEMO_ADAPTER_NAME
    assert 400_000 <= manifest["base_parameters"] <= 1_000_000
    assert manifest["base_loss"]["last"] < manifest["base_loss"]["first"] / 2
    assert manifest["adapter_loss"]["last"] < manifest["adapter_loss"]["first"]
    assert (demo_models["base"] / "tokenizer.json").is_file()
    assert (demo_models["base"] / "model.safetensors").is_file()
    assert (demo_models["adapter"] / "adapter_config.json").is_file()
    assert {"tokenizer", "base", "adapter", "save"} <= set(demo_models["stages"])


def test_adapter_weights_moved_from_their_zero_init(demo_models):
    from safetensors.torch import load_file

    weights = load_file(demo_models["adapter"] / "adapter_model.safetensors")
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b)


def test_tokenizer_round_trip_is_exact_on_every_bundled_line(demo_models):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    raw = Tokenizer.from_file(str(demo_models["base"] / "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(demo_models["base"], local_files_only=True)
    plain = PreTrainedTokenizerFast(tokenizer_file=str(demo_models["base"] / "tokenizer.json"))
    lines = [*corpus_lines(load_demo_prompts()), "  odd\tspacing\n\nand ünïcode 🙂 "]
    for line in lines:
        ids = auto.encode(line, add_special_tokens=False)
        assert ids == raw.encode(line).ids == plain.encode(line, add_special_tokens=False)
        assert auto.decode(ids) == line


def test_chat_template_renders_roles(demo_models):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo_models["base"], local_files_only=True)
    messages = build_messages(system="Be kind.", instruction="Where is my order?")
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    assert (
        text == "<|system|>\nBe kind.<|end|>\n<|user|>\nWhere is my order?<|end|>\n<|assistant|>\n"
    )


def test_build_is_deterministic_given_the_seed(tmp_path):
    from safetensors.torch import load_file

    tiny = DemoBuildConfig(base_steps=2, adapter_steps=2, batch_size=4)
    first = build_demo_models(tmp_path / "a", seed=3, config=tiny)
    second = build_demo_models(tmp_path / "b", seed=3, config=tiny)
    for folder, weights in (
        ("base", "model.safetensors"),
        ("adapter", "adapter_model.safetensors"),
    ):
        one, two = load_file(first[folder] / weights), load_file(second[folder] / weights)
        assert one.keys() == two.keys()
        assert all((one[k] == two[k]).all() for k in one)
    assert (first["base"] / "tokenizer.json").read_text() == (
        second["base"] / "tokenizer.json"
    ).read_text()


def test_lists_base_and_adapter(backend):
    assert backend.list_models()[:2] == [DEMO_BASE_NAME, DEMO_ADAPTER_NAME]


def test_base_and_adapter_answers_differ_and_the_adapter_is_warmer(backend):
    prompts = load_demo_prompts()[::40]
    base = texts(backend.generate(requests_for(prompts, DEMO_BASE_NAME)))
    warm = texts(backend.generate(requests_for(prompts, DEMO_ADAPTER_NAME)))

    assert sum(b != w for b, w in zip(base, warm, strict=True)) >= len(prompts) - 1

    def warmth(answers):
        return sum(a.startswith(("I'm", "Thank", "I completely")) for a in answers)

    assert warmth(warm) > warmth(base)


def test_batched_greedy_equals_one_at_a_time(backend):
    prompts = load_demo_prompts()[5::50]  # prompts of different lengths: left padding matters
    batch = requests_for(prompts, DEMO_ADAPTER_NAME)
    together = texts(backend.generate(batch))
    alone = [texts(backend.generate([request]))[0] for request in batch]
    assert together == alone


def test_same_seed_same_text_even_inside_another_batch(backend):
    prompt = load_demo_prompts()[7]
    request = requests_for([prompt], DEMO_ADAPTER_NAME, temperature=1.0, seed=11)[0]
    other_seed = requests_for([prompt], DEMO_ADAPTER_NAME, "-b", temperature=1.0, seed=12)[0]
    other_prompt = requests_for(load_demo_prompts()[100:101], DEMO_BASE_NAME, temperature=0.8)

    (alone,) = texts(backend.generate([request]))
    _, with_others, different = texts(backend.generate([*other_prompt, request, other_seed]))

    assert alone == with_others
    assert alone != different


def test_n_samples_with_token_counts(backend):
    (result,) = backend.generate(
        requests_for(load_demo_prompts()[:1], DEMO_ADAPTER_NAME, temperature=1.2, n=3, seed=5)
    )
    assert len(result.completions) == 3
    assert len({c.text for c in result.completions}) >= 2
    for completion in result.completions:
        assert completion.finish_reason in {"stop", "length"}
        assert completion.prompt_tokens > 10 and 0 < completion.completion_tokens <= 40


def test_greedy_n_gives_identical_samples(backend):
    (result,) = backend.generate(requests_for(load_demo_prompts()[:1], DEMO_BASE_NAME, n=2))
    assert len(result.completions) == 2 and result.completions[0] == result.completions[1]


def test_max_tokens_and_stop_strings(backend):
    prompts = load_demo_prompts()[:1]
    (short,) = backend.generate(requests_for(prompts, DEMO_ADAPTER_NAME, max_tokens=3))
    assert short.completions[0].finish_reason == "length"
    assert short.completions[0].completion_tokens == 3

    (full,) = texts(backend.generate(requests_for(prompts, DEMO_ADAPTER_NAME)))
    stop = full.split()[2]
    (stopped,) = backend.generate(requests_for(prompts, DEMO_ADAPTER_NAME, "-s", stop=[stop]))
    assert stopped.completions[0].finish_reason == "stop"
    assert stopped.completions[0].text == full[: full.index(stop)]


def test_unknown_model_is_a_per_request_error(backend):
    prompts = load_demo_prompts()[:2]
    good = requests_for(prompts[:1], DEMO_BASE_NAME)
    bad = requests_for(prompts[1:], "no-such-adapter")
    seen = []
    ok, unknown = backend.generate([*good, *bad], on_result=seen.append)
    assert ok.ok and len(seen) == 2
    assert "'no-such-adapter'" in unknown.error and "local:" in unknown.error
    assert DEMO_ADAPTER_NAME in unknown.error


def test_adapter_added_after_load_is_served(backend, demo_models):
    backend.add_adapter("warm-copy", demo_models["adapter"])
    prompts = load_demo_prompts()[:2]
    copy = texts(backend.generate(requests_for(prompts, "warm-copy")))
    original = texts(backend.generate(requests_for(prompts, DEMO_ADAPTER_NAME)))
    assert copy == original


def test_a_broken_adapter_fails_only_its_own_requests(demo_models, tmp_path):
    from evalhub.generation.local import LocalBackend

    local = LocalBackend(
        demo_models["base"],
        base_name=DEMO_BASE_NAME,
        adapters={"ghost": tmp_path / "no-adapter-here", DEMO_ADAPTER_NAME: demo_models["adapter"]},
        num_threads=1,
    )
    prompts = load_demo_prompts()[:1]
    base, ghost, warm = local.generate(
        [
            *requests_for(prompts, DEMO_BASE_NAME),
            *requests_for(prompts, "ghost"),
            *requests_for(prompts, DEMO_ADAPTER_NAME),
        ]
    )
    assert base.ok and warm.ok
    assert "'ghost'" in ghost.error and "cannot load the adapter" in ghost.error
    with pytest.raises(GenerationError, match="cannot load the adapter"):
        local.add_adapter("ghost-2", tmp_path / "also-missing")


def test_a_missing_base_is_a_per_request_error(tmp_path):
    from evalhub.generation.local import LocalBackend

    local = LocalBackend(tmp_path / "nothing", base_name="gone")
    (result,) = local.generate(requests_for(load_demo_prompts()[:1], "gone"))
    assert "cannot load the base model" in result.error and "'gone'" in result.error
