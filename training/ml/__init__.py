"""Pure training code (TRL + peft + transformers); imports no Django.

``python -m training.ml train --config run.json`` runs one training run (see ``train.py``);
``python -m training.ml estimate MODEL_DIR`` prints the memory a run needs (``memory.py``).
The same command runs by hand, under ``accelerate launch`` and from a background job.
"""
