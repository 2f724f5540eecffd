{#- Relations and bookkeeping of the closure materialization. -#}

{% macro closure_log_relation(relation) -%}
    {#- The one-row log of the last closure run, kept beside the closure's table. -#}
    {{ return(relation.incorporate(path={'identifier': relation.identifier ~ '__log'}, type='table')) }}
{%- endmacro %}


{% macro closure_scratch(relation, step, scratch) -%}
    {%- set scratch_relation = relation.incorporate(
        path={'identifier': relation.identifier ~ '__' ~ step}, type='table') -%}
    {%- do adapter.drop_relation(scratch_relation) -%}
    {%- do scratch.append(scratch_relation) -%}
    {{ return(scratch_relation) }}
{%- endmacro %}


{% macro closure_drop_scratch(scratch) -%}
    {%- for scratch_relation in scratch -%}
        {%- do adapter.drop_relation(scratch_relation) -%}
    {%- endfor -%}
{%- endmacro %}


{% macro closure_drop_leftovers(relation) -%}
    {#- Scratch tables a killed run may have left: `<table>__*`, except the run log. -#}
    {%- if execute -%}
        {%- set prefix = (relation.identifier ~ '__') | lower -%}
        {%- for name in idstitch.relation_names_in_schema(relation) -%}
            {%- if name | lower != prefix ~ 'log' and (name | lower).startswith(prefix) -%}
                {%- do adapter.drop_relation(relation.incorporate(path={'identifier': name}, type='table')) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}


{% macro relation_names_in_schema(relation) -%}
    {{ return(adapter.dispatch('relation_names_in_schema', 'idstitch')(relation)) }}
{%- endmacro %}

{#- dbt's own listing macro; its result has a `name` column on Postgres and DuckDB. -#}
{% macro default__relation_names_in_schema(relation) -%}
    {%- set schema_relation = api.Relation.create(database=relation.database, schema=relation.schema) -%}
    {%- set listed = list_relations_without_caching(schema_relation) -%}
    {{ return(listed.columns['name'].values() | list) }}
{%- endmacro %}

{#- Spark's listing (`show table extended`) has no `name` column; `show tables` names them. -#}
{% macro spark__relation_names_in_schema(relation) -%}
    {%- set names = [] -%}
    {%- for row in run_query('show tables in ' ~ relation.schema) if not row['isTemporary'] -%}
        {%- do names.append(row['tableName']) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}


{% macro closure_swap(new_relation, target_relation) -%}
    {%- do adapter.drop_relation(target_relation) -%}
    {%- do adapter.rename_relation(new_relation, target_relation) -%}
{%- endmacro %}


{% macro closure_count(relation) -%}
    {{ return(idstitch.closure_scalar('select count(*) from ' ~ relation)) }}
{%- endmacro %}


{% macro closure_scalar(query) -%}
    {%- set result = run_query(query) -%}
    {{ return(result.columns[0].values()[0] | int) }}
{%- endmacro %}
