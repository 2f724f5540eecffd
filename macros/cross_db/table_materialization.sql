{% macro table_materialization() -%}
    {#- The materialization of the package's published table models, chosen per engine at parse time. -#}
    {{ return(adapter.dispatch('table_materialization', 'idstitch')()) }}
{%- endmacro %}

{% macro default__table_materialization() -%}
    {{ return('table') }}
{%- endmacro %}

{#-
    Spark: dbt-spark's `table` drops a parquet table before building its new version, so readers find a
    published table missing for the whole build; materializations/idstitch_table.sql swaps it in instead.
-#}
{% macro spark__table_materialization() -%}
    {{ return('idstitch_table') }}
{%- endmacro %}
