{% macro delete_rows(relation, condition='true') -%}
    {#- A statement (for a hook) that deletes the rows of `relation` where `condition` holds. -#}
    {{ return(adapter.dispatch('delete_rows', 'idstitch')(relation, condition)) }}
{%- endmacro %}

{% macro default__delete_rows(relation, condition='true') -%}
    delete from {{ relation }} where {{ condition }}
{%- endmacro %}

{#-
    Spark: no DELETE on plain parquet. The rows to keep become the table's new version, swapped in by
    name (idstitch.replace_table: never half written); nothing is rewritten when no row matches. The
    statements run while the hook is rendered; the hook's own statement is a no-op. Formats with
    transactions (Delta …) copy the kept rows to `<table>__idstitch_kept` and overwrite the table with
    them in place (the table cannot be overwritten by a query that reads it).
-#}
{% macro spark__delete_rows(relation, condition='true') -%}
    {%- if not execute -%}{{ return('select 1') }}{%- endif -%}
    {%- set matches = 'coalesce((' ~ condition ~ '), false)' -%}
    {%- if idstitch.closure_scalar('select count(*) from ' ~ relation ~ ' where ' ~ matches) == 0 -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- if not idstitch.overwrites_atomically() -%}
        {%- do idstitch.replace_table(relation, 'select * from ' ~ relation ~ ' where not ' ~ matches) -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set kept = relation.incorporate(path={'identifier': relation.identifier ~ '__idstitch_kept'}, type='table') -%}
    {%- do adapter.drop_relation(kept) -%}
    {%- do run_query(create_table_as(False, kept, 'select * from ' ~ relation ~ ' where not ' ~ matches)) -%}
    {%- do run_query('insert overwrite table ' ~ relation ~ ' select * from ' ~ kept) -%}
    drop table if exists {{ kept }}
{%- endmacro %}
