"""/rate/ pages: the rater's campaigns, the vote page, and its two POST actions."""

from django.urls import path

from evalhub.views import rating

urlpatterns = [
    path("", rating.campaign_list, name="rate-list"),
    path("<int:campaign_id>/", rating.vote_page, name="rate-vote"),
    path("<int:campaign_id>/vote", rating.vote_submit, name="rate-vote-submit"),
    path("<int:campaign_id>/skip", rating.skip_submit, name="rate-skip"),
]
