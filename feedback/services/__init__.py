"""feedback writes: thumbs, choices, conversations and workbench turns (one module each)."""
