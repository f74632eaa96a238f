"""Each document counts the bytes of its stored history (COLLAB_HISTORY_MAX_BYTES), and
where its folded history ends (``history_compact``)."""

import json

from django.db import migrations, models


def count_history(apps, schema_editor):
    """Fill the count for the documents there are, as the commit path counts an op:
    its JSON as stored (UTF-8, not escaped), in bytes."""
    Document = apps.get_model("editor", "Document")
    Operation = apps.get_model("editor", "Operation")
    for document_id in Document.objects.values_list("pk", flat=True).iterator():
        total = 0
        rows = Operation.objects.filter(document_id=document_id).values_list("ops", flat=True)
        for ops in rows.iterator(chunk_size=2000):
            total += len(json.dumps(ops, ensure_ascii=False).encode("utf-8"))
        if total:
            Document.objects.filter(pk=document_id).update(history_bytes=total)


class Migration(migrations.Migration):
    dependencies = [
        ("editor", "0005_checkpoint"),
    ]

    operations = [
        migrations.AddField(
            model_name="document",
            name="history_bytes",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="document",
            name="history_start",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.RunPython(count_history, migrations.RunPython.noop, elidable=True),
    ]
