from django.contrib import admin
from django.urls import include, path

from collab import health
from editor.realtime import metrics
from editor.web import accounts

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/password_change/", accounts.password_change, name="password_change"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("editor.web.urls")),
]
