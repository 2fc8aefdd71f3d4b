"""training models (PreferencePair, DatasetVersion, TrainingRun) arrive with the training issue."""
