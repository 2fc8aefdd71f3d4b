"""evalhub: the Django project package and the core evaluation domain.

Sub-packages:
- ``models``     model registry, prompts and labels, outputs, campaigns, comparisons, votes
- ``services``   every write (campaign lifecycle, assignment, votes, imports, users)
- ``selectors``  every read that pages and APIs need (the rater-facing ones strip identity)
- ``api``        the REST API under /api/v1/ (DRF + drf-spectacular)
- ``views``      server-rendered pages (/rate/, login)
- ``stats``      pure numpy/scipy statistics, no Django
- ``generation`` pure generation backends, no Django
"""
