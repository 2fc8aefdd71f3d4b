"""Augmentation: paraphrase and back-translation through the fake backend and the loopback
server, the origin and source recorded, labels and split following the source, near-duplicates
(of the source, of a sibling, of an existing prompt) dropped and reported."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from assist.models import AugmentationRecord, AugmentationRun
from assist.selectors.augment import prompts_for_augmentation
from assist.services.augment import augmentation_run_create
from assist.tasks import run_augmentation_job
from evalhub.generation.fake import FakeBackend
from evalhub.models import AuditEvent, Label, Prompt
from evalhub.services.errors import InvalidInput
from tests.factories import ModelVersionFactory
from tests.test_assist_helpers import ScriptedFakeBackend, ScriptedLoopbackServer

WRITER = "writer-model"
TOPICS = [
    "How do I reset the password of my account", "Where is the parcel I ordered last week",
    "Can I pay an invoice with a credit card", "Why was my card charged twice this month",
    "How long does delivery to Norway usually take", "Is the warranty valid for refurbished phones",
    "Which address will the replacement be sent to", "How can I change the email on my profile",
    "What happens when a return label is lost", "Do you ship batteries by air freight",
    "Can two people share one subscription plan", "How do I download last year's receipts",
    "Why does the app log me out every hour", "Is there a student discount on laptops",
    "How can I cancel an order that already shipped", "What are the opening hours of the store",
    "Can I pick up my order from a locker", "How do I report a damaged package",
    "Does the tracking number work on other carriers", "How do I close my account for good",
]  # fmt: skip


def make_prompts(n: int, *, label: str = "billing", split: str = "unassigned") -> list[Prompt]:
    tag, _ = Label.objects.get_or_create(name=label)
    prompts = []
    for i, topic in enumerate(TOPICS[:n]):
        prompt = Prompt.objects.create(
            instruction=f"{topic}?", external_id=f"{label}-{i}", split=split
        )
        prompt.labels.add(tag)
        prompts.append(prompt)
    return prompts


@pytest.fixture
def writer(db):
    return ModelVersionFactory(
        name=WRITER, backend="openai", endpoint="http://127.0.0.1:9/v1", served_name=WRITER,
        temperature=0.8, seed=7,
    )  # fmt: skip


def execute(run: AugmentationRun, backend) -> AugmentationRun:
    result = run_augmentation_job(run.job_id, backend=backend)
    assert result is not None
    run.refresh_from_db()
    run.job.refresh_from_db()
    assert run.job.state == "succeeded", run.job.error
    return run


@pytest.mark.django_db
def test_paraphrase_doubles_a_set_with_origin_labels_and_splits(writer):
    held_out = make_prompts(10, label="billing", split="test")
    free = [Prompt.objects.create(instruction=f"{t} (shipping)?") for t in TOPICS[10:20]]
    shipping, _ = Label.objects.get_or_create(name="shipping")
    for prompt in free:
        prompt.labels.add(shipping)
    sources = held_out + free
    run = augmentation_run_create(
        prompts=sources, method="paraphrase", model_version=writer, per_prompt=1, seed=3
    )
    run = execute(run, FakeBackend([WRITER]))
    assert run.counts["kept"] == 20 and run.counts["duplicate"] == 0 and run.counts["failed"] == 0
    new = Prompt.objects.filter(derived_from__isnull=False)
    assert new.count() == 20 and set(new.values_list("origin", flat=True)) == {"paraphrase"}
    for prompt in new.select_related("derived_from", "data_source"):
        parent = prompt.derived_from
        assert prompt.split == parent.split != "unassigned"
        assert set(prompt.labels.all()) == set(parent.labels.all())
        assert (
            prompt.data_source.kind == "synthetic" and "AI augmentation" in prompt.data_source.name
        )
    # held-out sources stay held out; the unassigned ones were pinned (stratified) with copies.
    assert set(
        Prompt.objects.filter(pk__in=[p.pk for p in held_out]).values_list("split", flat=True)
    ) == {"test"}
    assert run.counts["pinned_splits"] == 10
    # The same sample seed per sample index: the request carried the run's seed.
    assert AuditEvent.objects.filter(
        action="augmentation_run.finish", object_id=str(run.pk)
    ).exists()
    assert prompts_for_augmentation(label="billing").count() == 10  # AI copies are never sources


@pytest.mark.django_db
def test_near_duplicates_of_source_sibling_and_existing_are_dropped(writer):
    sources = make_prompts(4)
    existing = Prompt.objects.create(instruction="Is there any student discount on the laptops?")

    def rewrite(message: str) -> str | None:
        if "reset the password" in message:
            return "How do I reset the password of my account please?"  # ~ its source
        if "pay an invoice" in message:
            return existing.instruction  # an existing prompt, word for word
        if "parcel I ordered" in message:
            return "Could you tell me the current whereabouts of last week's shipment?"
        return "Card billed two times in one month: what went wrong?"

    run = augmentation_run_create(
        prompts=sources, method="paraphrase", model_version=writer, per_prompt=2
    )
    run = execute(run, ScriptedFakeBackend([WRITER], rewrite))
    records = {(r.source_prompt_id, r.sample_index): r for r in run.records.all()}
    password, parcel, invoice, charged = sources
    assert records[(password.pk, 0)].status == "duplicate"
    assert records[(password.pk, 0)].duplicate_kind == "source"
    assert records[(password.pk, 0)].duplicate_of_id == password.pk
    assert 0.8 <= records[(password.pk, 0)].similarity < 1
    assert records[(invoice.pk, 0)].duplicate_of_id == existing.pk
    assert records[(invoice.pk, 0)].duplicate_kind == "existing"
    assert records[(invoice.pk, 0)].similarity == 1.0
    kept = records[(parcel.pk, 0)]
    assert kept.status == "kept" and kept.new_prompt.derived_from_id == parcel.pk
    # The second sample says the same thing again: a sibling duplicate.
    assert records[(parcel.pk, 1)].status == "duplicate"
    assert records[(parcel.pk, 1)].duplicate_kind == "sibling"
    assert records[(parcel.pk, 1)].duplicate_of_id == kept.new_prompt_id
    assert records[(charged.pk, 0)].status == "kept"
    assert run.counts == {**run.counts, "kept": 2, "duplicate": 6, "failed": 0}
    assert Prompt.objects.filter(origin="paraphrase").count() == 2


@pytest.mark.django_db
def test_back_translation_over_http_two_calls_each(writer):
    make_prompts(6)

    def translate(message: str) -> str | None:
        text = message.rsplit("\n\n", 1)[1]
        if "into French" in message:
            return "FR: " + " ".join(reversed(text.split()))
        words = list(reversed(text.removeprefix("FR: ").split()))
        return "Kindly tell me, " + " ".join(words[2:]).lower() + " - " + words[0] + " " + words[1]

    with ScriptedLoopbackServer([WRITER], translate) as server:
        writer.endpoint = server.base_url
        writer.save()
        out, err = StringIO(), StringIO()
        call_command(
            "augment", "--prompts", "label:billing", "--method", "back_translation",
            "--model", WRITER, "--pivot", "French", "--json", stdout=out, stderr=err,
        )  # fmt: skip
        assert server.chat_requests == 12  # into French, then back: two calls per prompt
        languages = [body["messages"][0]["content"].split("\n")[0] for body in server.bodies]
    assert sum("into French" in line for line in languages) == 6
    assert sum("into English" in line for line in languages) == 6
    report = json.loads(out.getvalue())
    assert report["kept"] + report["duplicate"] == 6 and report["failed"] == 0
    assert report["kept"] >= 4
    record = AugmentationRecord.objects.filter(status="kept").first()
    assert record.pivot_text.startswith("FR: ") and record.text.startswith("Kindly tell me")
    assert record.new_prompt.origin == "back_translation"
    assert "back_translation" in err.getvalue()  # the progress bar


@pytest.mark.django_db
def test_failures_are_recorded_and_inputs_validated(writer):
    sources = make_prompts(3)
    backend = FakeBackend([WRITER], failures={f"p{sources[0].pk}": "upstream 503"})
    run = execute(
        augmentation_run_create(prompts=sources, method="paraphrase", model_version=writer),
        backend,
    )
    failed = run.records.get(source_prompt=sources[0])
    assert failed.status == "failed" and "upstream 503" in failed.error
    assert run.counts["kept"] == 2
    with pytest.raises(InvalidInput, match="No prompts"):
        augmentation_run_create(prompts=[], method="paraphrase", model_version=writer)
    with pytest.raises(InvalidInput, match="imported"):
        augmentation_run_create(
            prompts=sources, method="paraphrase", model_version=ModelVersionFactory(name="imp")
        )
    with pytest.raises(CommandError, match="Unknown prompt filter"):
        call_command("augment", "--prompts", "colour:red", "--method", "paraphrase",
                     "--model", WRITER, stdout=StringIO(), stderr=StringIO())  # fmt: skip


@pytest.mark.django_db
def test_a_dataset_freeze_never_splits_a_prompt_from_its_copies(writer):
    from training.models import DatasetItem, PreferencePair
    from training.services.datasets import DatasetFilters, dataset_version_freeze

    sources = make_prompts(20)
    execute(
        augmentation_run_create(prompts=sources, method="paraphrase", model_version=writer),
        FakeBackend([WRITER]),
    )
    for prompt in Prompt.objects.all():
        PreferencePair.objects.create(
            prompt=prompt, chosen_text=f"good {prompt.pk}", rejected_text=f"bad {prompt.pk}",
            source="expert", source_key=f"leak:{prompt.pk}", content_hash=f"leak-{prompt.pk}",
        )  # fmt: skip
    dataset = dataset_version_freeze(name="leak-check", filters=DatasetFilters())
    split_of = dict(DatasetItem.objects.filter(dataset=dataset).values_list("prompt_id", "split"))
    copies = Prompt.objects.filter(derived_from__isnull=False)
    assert copies.count() == 20 and len(split_of) == 40
    assert all(split_of[c.pk] == split_of[c.derived_from_id] for c in copies)
    assert len(set(split_of.values())) == 3  # train, val and test all present: a real check
