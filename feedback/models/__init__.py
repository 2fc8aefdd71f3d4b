"""feedback models: thumbs from products, n-way choices, and the 2+2 agent workbench.

Every pick that counts toward a support rate (a workbench pick, a choice between baseline and
candidate) is also recorded as an evalhub ``Vote`` through ``evalhub.services.votes``; the rows
here keep what only feedback knows (the shown order, the source of each slot, the edits).
"""

from feedback.models.choice import ChoiceOption, ChoiceTask
from feedback.models.thumbs import Thumb, TracedOutput
from feedback.models.workbench import Conversation, WorkbenchSuggestion, WorkbenchTurn

__all__ = [
    "ChoiceOption",
    "ChoiceTask",
    "Conversation",
    "Thumb",
    "TracedOutput",
    "WorkbenchSuggestion",
    "WorkbenchTurn",
]
