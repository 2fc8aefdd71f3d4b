"""/jobs/ pages: the list, one job, and its Cancel / Retry actions (roles pm and admin)."""

from django.urls import path

from evalhub.views import jobs

urlpatterns = [
    path("", jobs.job_list, name="job-list"),
    path("<int:pk>/", jobs.job_detail, name="job-detail"),
    path("<int:pk>/cancel", jobs.job_cancel_view, name="job-cancel"),
    path("<int:pk>/retry", jobs.job_retry_view, name="job-retry"),
]
