"""/rate/ pages (filled in by evalhub.views.rating)."""

from django.urls import path

from evalhub.views import rating

urlpatterns = [
    path("", rating.campaign_list, name="rate-list"),
    path("<int:campaign_id>/", rating.vote_page, name="rate-vote"),
]
