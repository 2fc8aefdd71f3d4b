"""/dashboard/ pages (roles pm and admin)."""

from django.urls import path

from evalhub.views import dashboard

urlpatterns = [
    path("", dashboard.campaign_list, name="dashboard"),
    path("<int:pk>/", dashboard.campaign_detail, name="dashboard-campaign"),
]
