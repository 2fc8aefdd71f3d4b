"""/campaigns/ pages for managers: the list, one campaign, Generate / Open / Close (POST)."""

from django.urls import path

from evalhub.views import campaigns

urlpatterns = [
    path("", campaigns.campaign_list, name="campaign-list"),
    path("<int:pk>/", campaigns.campaign_detail, name="campaign-detail"),
    path("<int:pk>/generate", campaigns.campaign_generate_view, name="campaign-generate"),
    path("<int:pk>/open", campaigns.campaign_open_view, name="campaign-open"),
    path("<int:pk>/close", campaigns.campaign_close_view, name="campaign-close"),
]
