"""Root URLs: pages, the REST API under /api/v1/, its schema and docs, the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from evalhub.views import home

urlpatterns = [
    path("", home.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("rate/", include("evalhub.views.rating_urls")),
    path("dashboard/", include("evalhub.views.dashboard_urls")),
    path("jobs/", include("evalhub.views.jobs_urls")),
    path("campaigns/", include("evalhub.views.campaigns_urls")),
    path("api/v1/", include("evalhub.api.urls")),
    path("api/v1/", include("feedback.api.urls")),
    path("workbench/", include("feedback.views.workbench_urls")),
    path("choose/", include("feedback.views.choice_urls")),
    path("feedback/", include("feedback.views.feedback_urls")),
    path("training/", include("training.urls")),
    path("data/", include("training.data_urls")),
    path("labeling/", include("labeling.urls")),
    path("api/v1/", include("labeling.api_urls")),
    path("assist/", include("assist.urls")),
    path("api/v1/", include("assist.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
