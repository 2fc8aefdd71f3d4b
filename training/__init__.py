"""training: preference pairs, dataset versions and splits, exports, training runs, adapters.

May read evalhub and feedback; ``training.ml`` holds the pure TRL/peft code.
"""
