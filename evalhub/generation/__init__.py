"""Generation backends (pure; imports no Django): OpenAI-compatible HTTP (vLLM), local, fake."""
