"""AI assistance, always marked as such: an LLM judge (RLAIF) through the generation backends,
its measured agreement with people, pre-labels, and prompt augmentation (paraphrase,
back-translation). Reads evalhub, training and labeling."""
