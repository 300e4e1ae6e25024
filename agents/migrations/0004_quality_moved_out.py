"""The QA models now belong to the ``quality`` app (see ``quality.0001_initial``).

State only: the tables keep their names and rows (``database_operations`` is
empty). ``quality.0001_initial`` must run first, so that the models are already
in the ``quality`` state (pointing at the same tables) when they leave this one.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('agents', '0003_quality'),
        ('quality', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                # Referencing models first: TrainingRecord points at QaReview, which points at QaSample and QaForm.
                migrations.DeleteModel(name='TrainingRecord'),
                migrations.DeleteModel(name='QaReview'),
                migrations.DeleteModel(name='QaSample'),
                migrations.DeleteModel(name='QaCriterion'),
                migrations.DeleteModel(name='QaForm'),
            ],
        ),
    ]
