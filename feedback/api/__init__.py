"""feedback's REST API (mounted under /api/v1/ by evalhub's API urls)."""
