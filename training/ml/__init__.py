"""Pure training code (TRL + peft + transformers); imports no Django."""
