{% macro delete_rows(relation, condition='true') -%}
    {#- A statement (for a hook) that deletes the rows of `relation` where `condition` holds. -#}
    {{ return(adapter.dispatch('delete_rows', 'idstitch')(relation, condition)) }}
{%- endmacro %}

{% macro default__delete_rows(relation, condition='true') -%}
    delete from {{ relation }} where {{ condition }}
{%- endmacro %}

{#-
    Spark, plain parquet: no DELETE. The kept rows are copied to `<table>__idstitch_kept` and the table
    is overwritten with them (the table cannot be overwritten by a query that reads it). The first two
    statements run while the hook is rendered; the hook's own statement drops the copy.
-#}
{% macro spark__delete_rows(relation, condition='true') -%}
    {%- if condition == 'true' -%}
        truncate table {{ relation }}
    {%- else -%}
        {%- set kept = relation.incorporate(path={'identifier': relation.identifier ~ '__idstitch_kept'}, type='table') -%}
        {%- if execute -%}
            {%- do adapter.drop_relation(kept) -%}
            {%- do run_query(create_table_as(False, kept,
                'select * from ' ~ relation ~ ' where not coalesce((' ~ condition ~ '), false)')) -%}
            {%- do run_query('insert overwrite table ' ~ relation ~ ' select * from ' ~ kept) -%}
        {%- endif -%}
        drop table if exists {{ kept }}
    {%- endif -%}
{%- endmacro %}
