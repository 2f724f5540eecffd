{% macro drop_swapped_out_copy() -%}
    {{ return(adapter.dispatch('drop_swapped_out_copy', 'idstitch')()) }}
{%- endmacro %}

{% macro default__drop_swapped_out_copy() -%}
{%- endmacro %}

{#-
    DuckDB, post-hook of every model, in the model's transaction. dbt-duckdb's incremental
    materialization swaps the old table out as <model>__dbt_backup on a --full-refresh and drops it
    after its COMMIT, but the index lookup it runs first opens a transaction nothing commits, so the
    drop is rolled back and every backup stays: a full copy of the old table, raw personal values
    included. Dropped here, before that commit, the copy goes with the model's own transaction. (A
    root project could override the adapter's macro instead; a package cannot.)
-#}
{% macro duckdb__drop_swapped_out_copy() -%}
    {%- if model.config.materialized != 'view' -%}
    drop table if exists {{ this.incorporate(path={'identifier': this.identifier ~ '__dbt_backup'}) }}
    {%- endif -%}
{%- endmacro %}
