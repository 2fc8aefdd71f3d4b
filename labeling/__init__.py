"""Labeling work: tasks over prompts, outputs or pairs, cross-labeling in batches and layers,
cross-review and expert spot-checks, gold items, labeler accuracy. Reads evalhub and training."""
