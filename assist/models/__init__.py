"""Models of the assist app: judge runs and their verdicts, augmentation runs and their records.

Nothing here is a human signal: verdicts are not evalhub Votes and never enter a support-rate
report; they reach datasets only as ``ai_judge`` pairs, after a manager approved the run.
"""

from assist.models.augment import AugmentationRecord, AugmentationRun
from assist.models.judge import JudgeRun, JudgeVerdict

__all__ = ["AugmentationRecord", "AugmentationRun", "JudgeRun", "JudgeVerdict"]
