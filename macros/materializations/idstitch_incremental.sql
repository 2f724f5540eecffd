{#-
    Materialization `idstitch_incremental`: the package's incremental models on Spark with tables that
    have no DELETE or MERGE (plain parquet; docs/decisions/0008-spark.md). Models name their
    materialization through idstitch.incremental_materialization(): `incremental` (dbt's own) on
    every other engine, this one on Spark. It keeps the semantics the models are written for:

      delete+insert (a unique_key)  rows of the stored table whose key the run wrote are replaced
      append (no unique_key)        the run's rows are added

    dbt-spark's own incremental materialization offers `append` and `insert_overwrite` on parquet and
    runs the model as a temporary view; a model that reads {{ this }} (most of these do) cannot be
    written over the table it reads. So the run's rows are first stored in a table of their own
    (`<table>__idstitch_new`), and a delete+insert rewrites the table from that and from the stored
    rows it keeps: one rewrite of the stored table per run, which on Delta would be a MERGE. A run that
    produced no row writes nothing.

    On parquet a rewrite (and a full build over an existing table) writes the new version beside the
    table and swaps it in by name (idstitch.replace_table): never half written, even when a run is
    killed. Delta and the other formats with transactions overwrite in place
    (`<table>__idstitch_kept`, then `insert overwrite`).

    Inside a model use idstitch.is_incremental_run() rather than is_incremental(): dbt's macro only
    knows materialized='incremental'.
-#}
{% materialization idstitch_incremental, adapter='spark' %}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- do idstitch.recover_swap(target_relation) -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set in_place = idstitch.overwrites_atomically() -%}
    {%- set unique_key = config.get('unique_key') -%}
    {%- set strategy = config.get('incremental_strategy') or ('delete+insert' if unique_key else 'append') -%}
    {%- if strategy not in ['delete+insert', 'append'] -%}
        {{ exceptions.raise_compiler_error('idstitch_incremental: incremental_strategy ' ~ strategy
            ~ ' is not supported (delete+insert or append)') }}
    {%- endif -%}
    {%- set new_rows = this.incorporate(path={'identifier': this.identifier ~ '__idstitch_new'}, type='table') -%}
    {%- set kept_rows = this.incorporate(path={'identifier': this.identifier ~ '__idstitch_kept'}, type='table') -%}
    {%- do adapter.drop_relation(new_rows) -%}
    {%- do adapter.drop_relation(kept_rows) -%}

    {{ run_hooks(pre_hooks) }}

    {%- if existing_relation is not none and not in_place
          and (existing_relation.is_view or should_full_refresh()) -%}
        {%- do idstitch.replace_table(existing_relation, sql) -%}
        {% call statement('main') -%}
            select 1
        {%- endcall %}
    {%- elif existing_relation is none or existing_relation.is_view or should_full_refresh() -%}
        {%- if existing_relation is not none -%}
            {%- do adapter.drop_relation(existing_relation) -%}
        {%- endif -%}
        {% call statement('main') -%}
            {{ create_table_as(False, target_relation, sql) }}
        {%- endcall %}
    {%- else -%}
        {% call statement('idstitch_new_rows') -%}
            {{ create_table_as(False, new_rows, sql) }}
        {%- endcall %}
        {%- set columns = idstitch.incremental_columns(new_rows, existing_relation) -%}
        {%- set written = idstitch.closure_count(new_rows) -%}
        {%- if written == 0 -%}
            {% call statement('main') -%}
                select 0
            {%- endcall %}
        {%- elif strategy == 'append' -%}
            {% call statement('main') -%}
                insert into table {{ target_relation }}
                select {{ columns | join(', ') }} from {{ new_rows }}
            {%- endcall %}
        {%- elif not in_place -%}
            {%- set keys = [unique_key] if unique_key is string else unique_key -%}
            {%- set next_version -%}
                select {{ columns | join(', ') }}
                from ({{ idstitch.rows_without_keys_sql(target_relation, new_rows, keys) }}) as kept
                union all
                select {{ columns | join(', ') }} from {{ new_rows }}
            {%- endset -%}
            {%- do idstitch.replace_table(target_relation, next_version) -%}
            {% call statement('main') -%}
                select 1
            {%- endcall %}
        {%- else -%}
            {%- set keys = [unique_key] if unique_key is string else unique_key -%}
            {% call statement('idstitch_kept_rows') -%}
                {{ create_table_as(False, kept_rows, idstitch.rows_without_keys_sql(target_relation, new_rows, keys)) }}
            {%- endcall %}
            {% call statement('main') -%}
                insert overwrite table {{ target_relation }}
                select {{ columns | join(', ') }} from {{ kept_rows }}
                union all
                select {{ columns | join(', ') }} from {{ new_rows }}
            {%- endcall %}
        {%- endif -%}
        {%- do adapter.drop_relation(kept_rows) -%}
        {%- do adapter.drop_relation(new_rows) -%}
    {%- endif -%}

    {{ run_hooks(post_hooks) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{% macro rows_without_keys_sql(relation, new_rows, keys) -%}
    {#- The stored rows a delete+insert keeps: those whose key the run did not write (a null key part
        matches nothing, as in dbt's delete+insert). -#}
select stored.*
from {{ relation }} as stored
where not exists (
    select 1
    from {{ new_rows }} as written
    where
        {%- for key in keys %}
        written.{{ key }} = stored.{{ key }}{{ ' and' if not loop.last }}
        {%- endfor %}
)
{%- endmacro %}


{% macro incremental_columns(new_rows, existing_relation) -%}
    {#- The stored table's columns, quoted, after checking the run's rows have the same ones
        (on_schema_change: fail). -#}
    {%- set stored = adapter.get_columns_in_relation(existing_relation) -%}
    {%- set written = adapter.get_columns_in_relation(new_rows) -%}
    {%- set stored_names = stored | map(attribute='name') | map('lower') | list -%}
    {%- set written_names = written | map(attribute='name') | map('lower') | list -%}
    {%- if stored_names | sort != written_names | sort -%}
        {{ exceptions.raise_compiler_error(
            'idstitch: the columns of ' ~ existing_relation ~ ' (' ~ stored_names | join(', ')
            ~ ') differ from what the model now selects (' ~ written_names | join(', ')
            ~ '): rebuild it with --full-refresh') }}
    {%- endif -%}
    {{ return(stored | map(attribute='quoted') | list) }}
{%- endmacro %}
