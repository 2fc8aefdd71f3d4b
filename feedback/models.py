"""feedback models (thumbs, choice tasks, workbench turns) arrive with the feedback issue."""
