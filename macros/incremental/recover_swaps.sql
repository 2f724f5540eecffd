{% macro recover_swaps() -%}
    {#-
        on-run-start: settle every table swap a killed run left half done (Spark on parquet,
        macros/materializations/replace_table.sql), before any hook or model reads the tables. A
        table killed between its drop and its rename is renamed in here, so a model that does not
        rewrite it itself (the change log and the closure log take appends from dbt-spark's own
        materialization, which would otherwise build them anew, history lost) finds it again.
        Nothing to do on engines whose tables are rewritten in one transaction.
    -#}
    {{ return(adapter.dispatch('recover_swaps', 'idstitch')()) }}
{%- endmacro %}

{% macro default__recover_swaps() -%}
    {{ return('select 1') }}
{%- endmacro %}

{% macro spark__recover_swaps() -%}
    {%- if not execute or not idstitch.run_builds_models() -%}{{ return('select 1') }}{%- endif -%}
    {%- set schemas = [] -%}
    {%- for node in graph.nodes.values() if node.package_name == 'idstitch' and node.resource_type in ['model', 'seed'] -%}
        {%- if node.schema not in schemas -%}{%- do schemas.append(node.schema) -%}{%- endif -%}
    {%- endfor -%}
    {%- for schema in schemas if adapter.check_schema_exists(none, schema) -%}
        {%- set schema_relation = api.Relation.create(schema=schema, identifier='idstitch', type='table') -%}
        {%- for name in idstitch.relation_names_in_schema(schema_relation) if (name | lower).endswith('__idstitch_next') -%}
            {%- set relation = api.Relation.create(schema=schema, identifier=name[:-('__idstitch_next' | length)], type='table') -%}
            {%- do idstitch.recover_swap(relation) -%}
        {%- endfor -%}
    {%- endfor -%}
    select 1
{%- endmacro %}
