from django.urls import path

from . import documents, history, sharing, views

app_name = "editor"
urlpatterns = [
    path("", views.document_list, name="document_list"),
    path("documents/upload/", documents.document_upload, name="document_upload"),
    path("documents/<str:document_id>/", views.document_detail, name="document_detail"),
    path("documents/<str:document_id>/sharing/", sharing.document_sharing, name="document_sharing"),
    path("documents/<str:document_id>/download/", documents.document_download, name="document_download"),
    path("documents/<str:document_id>/rename/", documents.document_rename_view, name="document_rename"),
    path("documents/<str:document_id>/delete/", documents.document_delete_view, name="document_delete"),
    path("documents/<str:document_id>/history/", history.document_history, name="document_history"),
    path("documents/<str:document_id>/history/<int:revision>/", history.document_revision, name="document_revision"),
    path("documents/<str:document_id>/authors/", history.document_authors, name="document_authors"),
    path(
        "documents/<str:document_id>/history/<int:revision>/restore/",
        history.document_revision_restore,
        name="document_revision_restore",
    ),
]
