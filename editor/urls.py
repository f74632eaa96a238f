from django.urls import path

from . import sharing, views

app_name = "editor"
urlpatterns = [
    path("", views.document_list, name="document_list"),
    path("documents/<str:document_id>/", views.document_detail, name="document_detail"),
    path("documents/<str:document_id>/sharing/", sharing.document_sharing, name="document_sharing"),
]
