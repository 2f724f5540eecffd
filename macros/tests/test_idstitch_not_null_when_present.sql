{% test idstitch_not_null_when_present(model, column_name) -%}
    {#-
        not_null for a source column, but only when the table and the column exist: a missing one
        returns nothing here, so the staging model runs and fails with its own message naming the
        table, the column and the var to set (idstitch.source_columns). A test that errored instead
        would skip every model downstream of the source, and that message with them.
    -#}
    {%- set found = adapter.get_relation(database=model.database, schema=model.schema,
                                         identifier=model.identifier) if execute else none -%}
    {%- set names = adapter.get_columns_in_relation(found) | map(attribute='name') | map('lower') | list
                    if found is not none else [] -%}
    {%- if column_name | lower in names %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} is null
    {%- else %}
    select 1 as absent
    where 1 = 0
    {%- endif %}
{%- endtest %}
