from django.db import migrations, models
import django.db.models.deletion


def move_texts(apps, schema_editor):
    # Until now the content was rewritten on every commit: it is the text at revision.
    Document = apps.get_model("editor", "Document")
    Snapshot = apps.get_model("editor", "Snapshot")
    for document_id, revision, content in Document.objects.values_list("id", "revision", "content").iterator():
        Snapshot.objects.create(document_id=document_id, revision=revision, content=content)
        Document.objects.filter(pk=document_id).update(length=len(content))


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
        migrations.RunPython(move_texts, migrations.RunPython.noop),
        migrations.RemoveField(model_name="document", name="content"),
    ]
