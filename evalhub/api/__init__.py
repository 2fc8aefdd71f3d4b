"""The REST API under /api/v1/ (DRF). One error shape everywhere: see ``errors``."""
