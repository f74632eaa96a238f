import django.db.models.deletion
from django.db import migrations, models

from editor.core import ot


def move_texts(apps, schema_editor):
    # Until now the content was rewritten on every commit: it is the text at revision.
    Document = apps.get_model("editor", "Document")
    Snapshot = apps.get_model("editor", "Snapshot")
    for document_id, revision, content in Document.objects.values_list("id", "revision", "content").iterator():
        Snapshot.objects.create(document_id=document_id, revision=revision, content=content)
        Document.objects.filter(pk=document_id).update(length=len(content))


def restore_texts(apps, schema_editor):
    # Back to the earlier schema, whose row holds the text at revision: rebuild it from
    # the snapshot and the revisions after it (the history is never rewritten).
    Document = apps.get_model("editor", "Document")
    Snapshot = apps.get_model("editor", "Snapshot")
    Operation = apps.get_model("editor", "Operation")
    for document_id, revision in Document.objects.values_list("id", "revision").iterator():
        at, content = Snapshot.objects.filter(document_id=document_id).values_list("revision", "content").first() or (
            0,
            "",
        )
        if at > revision:
            at, content = 0, ""
        ops = Operation.objects.filter(document_id=document_id, revision__gt=at, revision__lte=revision)
        for op in ops.order_by("revision").values_list("ops", flat=True).iterator():
            content = ot.apply(content, op) if op else content
        Document.objects.filter(pk=document_id).update(content=content)


class Migration(migrations.Migration):
    dependencies = [("editor", "0002_connection")]

    operations = [
        migrations.AddField(
            model_name="document",
            name="length",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.CreateModel(
            name="Snapshot",
            fields=[
                (
                    "document",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="snapshot",
                        serialize=False,
                        to="editor.document",
                    ),
                ),
                ("revision", models.PositiveBigIntegerField(default=0)),
                ("content", models.TextField(blank=True, default="")),
            ],
        ),
        migrations.RunPython(move_texts, restore_texts),
        migrations.RemoveField(model_name="document", name="content"),
    ]
