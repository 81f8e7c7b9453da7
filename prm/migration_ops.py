"""Migration operations shared by the apps."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db.migrations.operations import AddIndex, AlterField
from django.db.models import Index


class AddIndexOnline(AddIndexConcurrently):
    """`AddIndex` that builds the index CONCURRENTLY on PostgreSQL, so writes go on while a table of tens of millions
    of rows is indexed (the migration must be `atomic = False`); a plain CREATE INDEX on SQLite. Should a concurrent
    build fail, PostgreSQL leaves an INVALID index: drop it and migrate again."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class DropFieldIndexOnline(AlterField):
    """`AlterField` to a field's new `db_index=False` that only drops the field's own index: CONCURRENTLY on
    PostgreSQL (the migration must be `atomic = False`), so writes go on. Django's own AlterField also drops and
    re-adds a foreign key's constraint, which re-checks every row of a table of tens of millions under a lock
    that blocks its writes. For an index another one already covers (the same leading column)."""

    def _pg(self, schema_editor) -> bool:
        return schema_editor.connection.vendor == "postgresql"

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        column = model._meta.get_field(self.name).column
        own = [index.name for index in model._meta.indexes]
        for name in schema_editor._constraint_names(model, [column], index=True, type_=Index.suffix, exclude=own):
            kwargs = {"concurrently": True} if self._pg(schema_editor) else {}
            schema_editor.execute(schema_editor._delete_index_sql(model, name, **kwargs))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        kwargs = {"concurrently": True} if self._pg(schema_editor) else {}
        field = model._meta.get_field(self.name)
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field], **kwargs))
