"""Imports: prompts (CSV / JSONL / Alpaca JSON), outputs (CSV / JSONL) and Chatbot Arena style
battle records (as pairwise votes). The CLI commands and the API both read a file with
``import_file_read`` and hand the table to one of the ``*_import`` services.

Every import is all or nothing unless the caller asks to skip bad rows; bad rows are named by
line (or JSON array item) and field; duplicates are reported and never stored twice.
"""

from evalhub.services.imports.battles import BattleImportReport, battles_import
from evalhub.services.imports.outputs import OutputImportReport, outputs_import
from evalhub.services.imports.prompts import PromptImportReport, prompts_import
from evalhub.services.imports.rows import LABEL_SEPARATOR, ImportReport, InvalidRows, RowError
from evalhub.services.imports.table import (
    FORMATS,
    ImportTable,
    MalformedFile,
    import_file_read,
)

__all__ = [
    "FORMATS",
    "LABEL_SEPARATOR",
    "BattleImportReport",
    "ImportReport",
    "ImportTable",
    "InvalidRows",
    "MalformedFile",
    "OutputImportReport",
    "PromptImportReport",
    "RowError",
    "battles_import",
    "import_file_read",
    "outputs_import",
    "prompts_import",
]
