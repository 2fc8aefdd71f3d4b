"""feedback pages: the agent workbench (/workbench/), n-way choices for raters (/choose/), and
feedback dashboards and docs for PMs (/feedback/)."""
