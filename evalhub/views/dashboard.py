"""PM dashboard (placeholder until the reports work lands)."""

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse


@permission_required("evalhub.view_reports", raise_exception=True)
def campaign_list(request: HttpRequest) -> HttpResponse:
    return HttpResponse("dashboard")
