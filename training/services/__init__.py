"""Writes of training: pairs, dataset versions, exports, training runs, registration."""
