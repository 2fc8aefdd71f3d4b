"""import_outputs: CSV and JSON Lines keyed by prompt external id and model version name."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from evalhub.models import ModelVersion, Output
from evalhub.models.prompts import params_hash
from tests.factories import ModelVersionFactory, PromptFactory

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"


def report_of(*args: object) -> dict:
    out = io.StringIO()
    call_command("import_outputs", *map(str, args), "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


@pytest.fixture
def registry(db):
    prompts = {eid: PromptFactory(external_id=eid) for eid in ("p1", "p2")}
    models = {name: ModelVersionFactory(name=name) for name in ("base-7b", "tuned-7b")}
    return prompts, models


def test_csv_stores_outputs_with_params_latency_and_tokens(registry):
    prompts, models = registry
    report = report_of(DATA / "outputs.csv")
    assert (report["created"], report["duplicates"], report["errors"]) == (3, 0, 0)
    first = Output.objects.get(prompt=prompts["p1"], model_version=models["base-7b"])
    assert first.text == "Go to settings, then security."
    assert first.params == {"temperature": 0.7}
    assert first.params_hash == params_hash({"temperature": 0.7})
    assert (first.latency_ms, first.prompt_tokens, first.completion_tokens) == (812.5, 20, 9)
    assert first.origin == Output.Origin.IMPORTED
    bare = Output.objects.get(prompt=prompts["p2"])
    assert (bare.sample_index, bare.params, bare.latency_ms) == (0, {}, None)
    assert bare.params_hash == params_hash({})


def test_jsonl_accepts_external_id_and_question_id_keys(registry):
    prompts, models = registry
    report = report_of(DATA / "outputs.jsonl")
    assert report["created"] == 2
    sample = Output.objects.get(prompt=prompts["p1"])
    assert (sample.sample_index, sample.params) == (1, {"temperature": 1.0})
    other = Output.objects.get(prompt=prompts["p2"])
    assert (other.model_version, other.latency_ms, other.completion_tokens) == (
        models["tuned-7b"],
        120.0,
        3,
    )


def test_reimport_reports_duplicates_and_stores_nothing_new(registry):
    report_of(DATA / "outputs.csv")
    again = report_of(DATA / "outputs.csv")
    assert (again["created"], again["duplicates"]) == (0, 3)
    assert [row["line"] for row in again["duplicate_rows"]] == [2, 3, 4]
    assert Output.objects.count() == 3


def test_same_output_twice_in_one_file_is_stored_once(registry, tmp_path):
    path = tmp_path / "twice.jsonl"
    row = {"prompt_external_id": "p1", "model": "base-7b", "text": "Same key", "params": {"t": 1}}
    path.write_text(
        "\n".join(json.dumps(r) for r in [row, {**row, "text": "other text, same key"}])
    )
    report = report_of(path)
    assert report["created"] == 1
    assert report["duplicate_rows"] == [
        {
            "line": 2,
            "where": "line 2",
            "reason": "the same prompt, model, sample_index and params as line 1",
        }
    ]
    assert Output.objects.get().text == "Same key"


def test_unknown_model_is_a_row_error_that_says_to_register_it(registry, tmp_path):
    path = tmp_path / "new_model.csv"
    path.write_text("prompt_external_id,model,text\np1,base-7b,fine\np2,mystery-70b,hello\n")
    with pytest.raises(CommandError) as caught:
        report_of(path)
    message = str(caught.value)
    assert "line 3, field model: unknown model version 'mystery-70b'; register it first" in message
    assert "--create-models" in message
    assert Output.objects.count() == 0
    assert not ModelVersion.objects.filter(name="mystery-70b").exists()


def test_create_models_registers_unknown_versions_as_imported(registry, tmp_path):
    path = tmp_path / "new_model.csv"
    path.write_text("prompt_external_id,model,text\np2,mystery-70b,hello\n")
    report = report_of(path, "--create-models")
    assert report["models_created"] == ["mystery-70b"]
    created = ModelVersion.objects.get(name="mystery-70b")
    assert created.backend == ModelVersion.Backend.IMPORTED
    assert Output.objects.get().model_version == created


def test_bad_values_are_named_and_skip_bad_keeps_the_good_rows(registry, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "prompt_external_id,model,text,sample_index,params,latency_ms,prompt_tokens\n"
        "p1,base-7b,good,0,,,\n"
        "p1,base-7b,bad index,-1,,,\n"
        "p1,base-7b,bad params,2,[1],,\n"
        "p2,base-7b,bad latency,,,fast,\n"
        "nope,base-7b,unknown prompt,,,,\n"
        "p2,base-7b,,,,,\n"
        "p2,tuned-7b,bad tokens,,,,1.5\n"
    )
    with pytest.raises(CommandError) as caught:
        report_of(path)
    message = str(caught.value)
    for expected in (
        "line 3, field sample_index: must be a whole number >= 0",
        "line 4, field params: must be a JSON object, not a JSON array",
        "line 5, field latency_ms: must be a number >= 0",
        "line 6, field prompt_external_id: no stored prompt has external id 'nope'",
        "line 7, field text: is required and empty",
    ):
        assert expected in message
    assert Output.objects.count() == 0

    report = report_of(path, "--skip-bad")
    assert report["created"] == 1
    assert report["errors"] == 6
    assert [(r["line"], r["field"]) for r in report["bad_rows"]][-1] == (8, "prompt_tokens")
    assert Output.objects.get().text == "good"


def test_missing_required_columns_is_a_file_error(registry, tmp_path):
    path = tmp_path / "cols.csv"
    path.write_text("prompt,model,answer\np1,base-7b,hi\n")
    with pytest.raises(CommandError) as caught:
        report_of(path)
    assert "prompt_external_id or external_id or question_id" in str(caught.value)
    assert "text" in str(caught.value)
