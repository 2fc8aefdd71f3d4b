"""Rater pages (placeholder; replaced by the rating-pages work)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    return HttpResponse("rate")


@login_required
def vote_page(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return HttpResponse("vote")
