{% macro incremental_materialization() -%}
    {#- The materialization of the package's incremental models, chosen per engine at parse time. -#}
    {{ return(adapter.dispatch('incremental_materialization', 'idstitch')()) }}
{%- endmacro %}

{% macro default__incremental_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{#-
    Spark: plain parquet tables have no DELETE or MERGE, and dbt-spark's incremental materialization
    cannot rewrite a table that the model reads; materializations/idstitch_incremental.sql can.
-#}
{% macro spark__incremental_materialization() -%}
    {{ return('idstitch_incremental') }}
{%- endmacro %}


{% macro is_incremental_run() -%}
    {#- dbt's is_incremental(), for models materialized by incremental_materialization() (dbt's macro
        answers false for any materialization but its own). -#}
    {{ return(adapter.dispatch('is_incremental_run', 'idstitch')()) }}
{%- endmacro %}

{% macro default__is_incremental_run() -%}
    {{ return(dbt.is_incremental()) }}
{%- endmacro %}

{% macro spark__is_incremental_run() -%}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- if model.config.materialized != 'idstitch_incremental' -%}{{ return(dbt.is_incremental()) }}{%- endif -%}
    {%- set relation = adapter.get_relation(this.database, this.schema, this.table) -%}
    {{ return(relation is not none and relation.type == 'table' and not should_full_refresh()) }}
{%- endmacro %}
