"""Quality assurance moves from ``agents`` to its own app, keeping its tables and rows.

The tables (``agents_qaform`` and the rest) stay where they are: this migration
only tells Django's state that the models now belong to ``quality``
(``database_operations`` is empty). ``agents.0004_quality_moved_out`` then drops
them from the ``agents`` state, again without touching the database.

The content types are renamed to the new app label, so the permissions granted
on them (and the admin's log entries pointing at them) follow the models instead
of being orphaned beside a new set.
"""

from django.conf import settings
from django.db import migrations, models
import django.core.validators
import django.db.models.deletion
import django.utils.timezone

MOVED_MODELS = ('qaform', 'qacriterion', 'qasample', 'qareview', 'trainingrecord')


def _relabel_content_types(apps, schema_editor, old_label, new_label):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    db = schema_editor.connection.alias
    for model in MOVED_MODELS:
        # On a new database no content type exists yet (post_migrate creates them
        # after every migration has run). If both labels exist, the old one holds
        # the granted permissions and the admin log: it is left alone for
        # remove_stale_contenttypes rather than merged here.
        if ContentType.objects.using(db).filter(app_label=new_label, model=model).exists():
            continue
        ContentType.objects.using(db).filter(app_label=old_label, model=model).update(app_label=new_label)


def content_types_to_quality(apps, schema_editor):
    _relabel_content_types(apps, schema_editor, 'agents', 'quality')


def content_types_to_agents(apps, schema_editor):
    _relabel_content_types(apps, schema_editor, 'quality', 'agents')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('agents', '0003_quality'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('core', '0003_webhooks'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='QaForm',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, unique=True)),
                        ('description', models.TextField(blank=True, help_text='What this form checks and when to use it.')),
                        ('active', models.BooleanField(default=False, help_text='Only active forms can be used for new samples; a form needs criteria to be active.')),
                        ('pass_mark', models.PositiveSmallIntegerField(default=80, help_text='A review passes with a score (0 to 100) at or above this, and no critical criterion failed.', validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(100)])),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={
                        'db_table': 'agents_qaform',
                        'verbose_name': 'QA form',
                        'ordering': ['name'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('pass_mark__lte', 100)), name='qa_form_pass_mark_range')],
                    },
                ),
                migrations.CreateModel(
                    name='QaSample',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('mode', models.CharField(choices=[('random', 'Random'), ('targeted', 'Targeted')], max_length=16)),
                        ('criteria', models.JSONField(blank=True, default=dict, help_text='The period and filters it was drawn with.')),
                        ('requested', models.PositiveSmallIntegerField(help_text='How many conversations were asked for.')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('form', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='samples', to='quality.qaform')),
                    ],
                    options={
                        'db_table': 'agents_qasample',
                        'verbose_name': 'QA sample',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='QaReview',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('pending', 'To score'), ('submitted', 'Scored')], default='pending', max_length=16)),
                        ('answers', models.JSONField(blank=True, default=list)),
                        ('comment', models.TextField(blank=True)),
                        ('weighted_score', models.FloatField(blank=True, null=True)),
                        ('score', models.FloatField(blank=True, help_text='0 to 100, weighted; 0 after a critical failure.', null=True)),
                        ('passed', models.BooleanField(blank=True, null=True)),
                        ('critical_failed', models.BooleanField(default=False)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('submitted_at', models.DateTimeField(blank=True, null=True)),
                        ('agent', models.ForeignKey(help_text='The agent reviewed.', on_delete=django.db.models.deletion.CASCADE, related_name='qa_reviews', to=settings.AUTH_USER_MODEL)),
                        ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='qa_reviews', to='core.conversation')),
                        ('form', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reviews', to='quality.qaform')),
                        ('reviewer', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('sample', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='reviews', to='quality.qasample')),
                    ],
                    options={
                        'db_table': 'agents_qareview',
                        'verbose_name': 'QA review',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='TrainingRecord',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('topic', models.CharField(help_text='The topic or course.', max_length=200)),
                        ('status', models.CharField(choices=[('assigned', 'Assigned'), ('completed', 'Completed')], default='assigned', max_length=16)),
                        ('due_on', models.DateField(blank=True, null=True)),
                        ('completed_on', models.DateField(blank=True, null=True)),
                        ('notes', models.TextField(blank=True)),
                        ('assigned_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('agent', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='training_records', to=settings.AUTH_USER_MODEL)),
                        ('assigned_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('review', models.ForeignKey(blank=True, help_text='The QA review that prompted it, if any.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='training', to='quality.qareview')),
                    ],
                    options={
                        'db_table': 'agents_trainingrecord',
                        'ordering': ['status', 'due_on', '-assigned_at'],
                    },
                ),
                migrations.CreateModel(
                    name='QaCriterion',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('position', models.PositiveSmallIntegerField(default=0, help_text='Order on the scoring form.')),
                        ('label', models.CharField(max_length=200)),
                        ('guidance', models.TextField(blank=True, help_text='What a reviewer looks for; shown beside the score.')),
                        ('weight', models.PositiveSmallIntegerField(default=1, help_text='Relative weight in the score (at least 1).', validators=[django.core.validators.MinValueValidator(1)])),
                        ('kind', models.CharField(choices=[('points', 'Points (0 to max)'), ('pass_fail', 'Pass / fail')], default='points', max_length=16)),
                        ('max_points', models.PositiveSmallIntegerField(default=5, help_text='Points criteria are scored 0 to this; pass/fail criteria count as 1 (pass) or 0 (fail).', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(100)])),
                        ('critical', models.BooleanField(default=False, help_text='Auto-fail: scored 0 (or failed), the whole review scores 0 and fails.')),
                        ('allow_na', models.BooleanField(default=False, help_text='May be marked not applicable: then it is left out of the score.', verbose_name='allow N/A')),
                        ('form', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='criteria', to='quality.qaform')),
                    ],
                    options={
                        'db_table': 'agents_qacriterion',
                        'verbose_name': 'QA criterion',
                        'verbose_name_plural': 'QA criteria',
                        'ordering': ['form', 'position', 'id'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('weight__gte', 1)), name='qa_criterion_weight_positive'), models.CheckConstraint(condition=models.Q(('max_points__gte', 1), ('max_points__lte', 100)), name='qa_criterion_max_range')],
                    },
                ),
                migrations.AddIndex(
                    model_name='qareview',
                    index=models.Index(fields=['status', 'submitted_at'], name='qa_review_status_time'),
                ),
                migrations.AddConstraint(
                    model_name='qareview',
                    constraint=models.UniqueConstraint(fields=('form', 'conversation'), name='qa_review_once_per_form'),
                ),
                migrations.AddConstraint(
                    model_name='qareview',
                    constraint=models.CheckConstraint(condition=models.Q(('score__isnull', True), models.Q(('score__gte', 0), ('score__lte', 100)), _connector='OR'), name='qa_review_score_range'),
                ),
                migrations.AddIndex(
                    model_name='trainingrecord',
                    index=models.Index(fields=['agent', 'status'], name='training_agent_status'),
                ),
                migrations.AddConstraint(
                    model_name='trainingrecord',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'completed'), _negated=True), ('completed_on__isnull', False), _connector='OR'), name='training_completed_has_date'),
                ),
            ],
        ),
        migrations.RunPython(content_types_to_quality, content_types_to_agents),
    ]
