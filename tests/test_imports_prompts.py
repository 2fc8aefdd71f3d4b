"""import_prompts: CSV, JSON Lines and Alpaca JSON; duplicates; bad rows; malformed files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from evalhub.models import Label, Prompt
from evalhub.models.prompts import prompt_content_hash
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"


def run(*args: object) -> str:
    out = io.StringIO()
    call_command("import_prompts", *map(str, args), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def report_of(*args: object) -> dict:
    return json.loads(run(*args, "--json"))


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_csv_stores_every_field_labels_hierarchy_and_history():
    report = report_of(DATA / "prompts.csv")
    assert (report["created"], report["duplicates"], report["errors"]) == (3, 0, 0)
    assert report["labels_created"] == ["account", "account/password", "translation"]

    p1 = Prompt.objects.get(external_id="p1")
    assert p1.instruction == "How do I reset my password?"
    assert p1.system == "You are a support agent."
    assert p1.reference == 'Click "Forgot password".'
    assert (p1.split, p1.source) == ("train", "faq")
    assert sorted(p1.labels.values_list("name", flat=True)) == ["account", "account/password"]
    assert Label.objects.get(name="account/password").parent == Label.objects.get(name="account")
    assert Label.objects.get(name="account").parent is None
    assert p1.content_hash == p1.compute_hash()

    p2 = Prompt.objects.get(external_id="p2")
    assert (p2.input, p2.split, p2.reference) == ("Good morning", "test", "Bonjour")
    p3 = Prompt.objects.get(external_id="p3")
    assert p3.instruction == "Write a haiku\nabout rain"
    assert p3.history == [["Hi", "Hello! How can I help?"]]
    assert p3.split == "unassigned"
    assert p3.source == "prompts.csv"  # no source column value: the file name


def test_jsonl_accepts_id_and_numeric_question_id():
    report = report_of(DATA / "prompts.jsonl")
    assert report["created"] == 2
    j1 = Prompt.objects.get(external_id="j1")
    assert j1.split == "val"
    assert sorted(j1.labels.values_list("name", flat=True)) == ["billing", "billing/refund"]
    q42 = Prompt.objects.get(external_id="42")
    assert (q42.system, q42.reference, q42.history) == ("Be brief.", "4", [["Hi", "Hello"]])


def test_alpaca_json_stores_output_as_reference_and_history():
    report = report_of(DATA / "prompts_alpaca.json")
    assert report["format"] == "json"
    assert report["created"] == 3
    chat = Prompt.objects.get(instruction="Continue the chat.")
    assert chat.history == [["Can you help?", "Of course."], ["Great", "What do you need?"]]
    assert chat.reference == "Sure."
    assert chat.external_id is None
    sentiment = Prompt.objects.get(instruction="Classify the sentiment.")
    assert (sentiment.input, sentiment.system) == ("I love this phone!", "You are a classifier.")
    assert list(
        Prompt.objects.get(reference__startswith="1.").labels.values_list("name", flat=True)
    ) == ["health"]


@pytest.mark.parametrize(
    ("name", "lines"),
    [("prompts.csv", [2, 3, 4]), ("prompts.jsonl", [1, 3]), ("prompts_alpaca.json", [1, 2, 3])],
)
def test_reimporting_the_same_file_stores_nothing_new(name, lines):
    first = report_of(DATA / name)
    counts = (Prompt.objects.count(), Label.objects.count(), Prompt.labels.through.objects.count())
    second = report_of(DATA / name)
    assert (first["created"], second["created"]) == (len(lines), 0)
    assert second["duplicates"] == len(lines)
    assert [row["line"] for row in second["duplicate_rows"]] == lines
    assert all("already stored" in row["reason"] for row in second["duplicate_rows"])
    after = (Prompt.objects.count(), Label.objects.count(), Prompt.labels.through.objects.count())
    assert after == counts


def test_duplicates_in_the_file_and_in_the_database_are_reported_with_lines(tmp_path):
    PromptFactory(external_id="old-1", instruction="Something else entirely")
    PromptFactory(external_id=None, instruction="What does the stored one say?")
    path = write(
        tmp_path,
        "dups.csv",
        "external_id,instruction\n"
        "a,What is AI?\n"
        "b,  what   IS ai?  \n"  # same after normalization: duplicate of line 2
        "old-1,A brand new question\n"  # external id already stored
        "c,What does the stored one say?\n"  # content already stored
        "d,A fresh question\n",
    )
    report = report_of(path)
    assert report["created"] == 2
    dups = {row["line"]: row["reason"] for row in report["duplicate_rows"]}
    assert set(dups) == {3, 4, 5}
    assert dups[3] == "the same prompt as line 2"
    assert "external id 'old-1' is already stored" in dups[4]
    assert "the same prompt is already stored" in dups[5]
    assert set(Prompt.objects.values_list("external_id", flat=True)) == {"old-1", None, "a", "d"}


BAD_CSV = (
    "external_id,instruction,split,history,labels\n"
    "ok-1,A good question,train,,safety\n"
    "bad-1,,train,,\n"
    "bad-2,Another question,training,,\n"
    'bad-3,Third question,,"[[""only one""]]",\n'
    "ok-2,A second good question,,,a//b\n"
)


def test_bad_rows_are_named_by_line_and_field_and_nothing_is_stored(tmp_path):
    path = write(tmp_path, "bad.csv", BAD_CSV)
    with pytest.raises(CommandError) as caught:
        run(path)
    message = str(caught.value)
    assert "line 3, field instruction: is required and empty" in message
    assert "line 4, field split: must be one of train, val, test, unassigned" in message
    assert "line 5, field history" in message
    assert "line 6, field labels: label 'a//b' has an empty part" in message
    assert "nothing was imported" in message
    assert Prompt.objects.count() == 0
    assert Label.objects.count() == 0


def test_skip_bad_stores_the_good_rows_and_lists_the_bad_ones(tmp_path):
    path = write(tmp_path, "bad.csv", BAD_CSV)
    output = run(path, "--skip-bad")
    assert "skipped line 3, field instruction" in output
    assert "skipped line 4, field split" in output
    assert "skipped line 6, field labels" in output
    assert list(Prompt.objects.values_list("external_id", flat=True)) == ["ok-1"]
    assert list(Label.objects.values_list("name", flat=True)) == ["safety"]
    report = report_of(path, "--skip-bad")
    assert report["errors"] == 4
    assert [(row["line"], row["field"]) for row in report["bad_rows"]] == [
        (3, "instruction"),
        (4, "split"),
        (5, "history"),
        (6, "labels"),
    ]


def test_json_array_errors_say_item_and_jsonl_errors_use_the_physical_line(tmp_path):
    alpaca = write(
        tmp_path,
        "a.json",
        json.dumps([{"instruction": "fine"}, {"input": "no instruction"}, "not an object"]),
    )
    with pytest.raises(CommandError) as caught:
        run(alpaca)
    assert "item 2, field instruction" in str(caught.value)
    assert "item 3, field row: is a JSON string, not an object" in str(caught.value)

    jsonl = write(
        tmp_path,
        "a.jsonl",
        '{"instruction": "fine"}\n\n{"instruction": ["not", "text"]}\n{"instruction": \n',
    )
    with pytest.raises(CommandError) as caught:
        run(jsonl)
    assert "line 3, field instruction: must be text, not a JSON array" in str(caught.value)
    assert "line 4, field row: is not valid JSON" in str(caught.value)
    assert Prompt.objects.count() == 0


def test_the_same_external_id_for_two_different_prompts_is_an_error(tmp_path):
    path = write(
        tmp_path,
        "ids.jsonl",
        '{"id": "x", "instruction": "One"}\n{"id": "x", "instruction": "Two"}\n',
    )
    with pytest.raises(CommandError, match="line 2, field id: external id 'x' is already used"):
        run(path)
    assert Prompt.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("latin1.csv", "instruction\nCaf\xe9 au lait?\n".encode("latin-1"), "not UTF-8"),
        ("empty.csv", b"", "The file is empty"),
        ("blank.jsonl", b"\n \n", "The file is empty"),
        ("header_only.csv", b"instruction,input\n", "no rows"),
        ("empty.json", b"[]", "no rows"),
        (
            "no_instruction.csv",
            b"question,input\nWhat?,x\n",
            "Missing required column(s): instruction",
        ),
        (
            "ragged.csv",
            b"instruction,input\nok,x\ntoo,many,fields\n",
            "Expected 2 fields in line 3",
        ),
        ("broken.json", b'[{"instruction": "a"},', "not valid JSON"),
        ("object.json", b'{"instruction": "a"}', "must be a list of objects"),
        ("really_csv.jsonl", b"instruction\nWhat?\n", "Line 1 is not JSON"),
        ("prompts.txt", b"instruction\nWhat?\n", "Cannot tell the format"),
    ],
)
def test_malformed_files_give_a_clear_error_and_store_nothing(tmp_path, name, content, expected):
    with pytest.raises(CommandError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        run(write(tmp_path, name, content))
    assert Prompt.objects.count() == 0


def test_format_option_overrides_the_extension(tmp_path):
    path = write(tmp_path, "prompts.txt", '{"instruction": "What?"}\n')
    run(path, "--format", "jsonl")
    assert Prompt.objects.get().content_hash == prompt_content_hash(instruction="What?")


def test_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run(tmp_path / "nope.csv")


def test_big_files_show_a_progress_bar_per_stage_on_stderr(tmp_path, capsys):
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(json.dumps({"instruction": f"Question {i}"}) for i in range(1500)))
    call_command("import_prompts", str(path), stdout=io.StringIO())
    stderr = capsys.readouterr().err
    assert "checking: 100%" in stderr
    assert "writing prompts: 100%" in stderr
    assert "1500/1500" in stderr
    assert Prompt.objects.count() == 1500


def test_small_files_and_no_progress_show_no_bar(tmp_path, capsys):
    run(DATA / "prompts.csv")
    assert "checking" not in capsys.readouterr().err
