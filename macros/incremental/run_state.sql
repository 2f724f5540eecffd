{% macro run_stamp() -%}
    {#- This invocation's start time as a timestamp literal: the same for every model of one
        `dbt build`, so "rows written by this run" is `changed_in_run_at = run_stamp()`. Models
        read what changed with idstitch.changed_since_complete_run() instead: this run's rows and
        those of unfinished runs since the last complete one (macros/incremental/run_log.sql). -#}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}


{% macro receipt_order(received_at, event_at, id_columns) -%}
    {#-
        Which receipt of a message id wins: the first received (then the earliest event time,
        then the ids, so that two receipts in the same microsecond still give one answer on every
        engine). The full build, the incremental path and the staging views all use this order.
    -#}
    {{ received_at }} asc nulls last, {{ event_at }} asc nulls last
    {%- for column in id_columns %}, {{ idstitch.bytewise(column) }} asc nulls last{%- endfor %}
{%- endmacro %}


{% macro message_id_columns(message_source) -%}
    {#- The id columns a message table carries into the graph. -#}
    {%- if message_source == 'aliases' -%}
        {{ return(['previous_id', 'user_id']) }}
    {%- elif message_source == 'identifies' -%}
        {{ return(['anonymous_id', 'user_id'] + var('idstitch__identifier_traits')) }}
    {%- endif -%}
    {{ return(['anonymous_id', 'user_id']) }}
{%- endmacro %}


{% macro message_sources() -%}
    {#- Every message table the graph reads: the event sources, and aliases when enabled. -#}
    {{ return(idstitch.event_sources() + (['aliases'] if idstitch.table_enabled('aliases') else [])) }}
{%- endmacro %}


{% macro recompute_id_tuples() -%}
    {#-
        True when the id tuples must be recomputed from the index instead of adding up the new
        messages: a message's winner was replaced since the last complete run (an earlier receipt
        arrived late: the old winner's contribution cannot be subtracted), the index was rebuilt
        since (every row is 'rebuilt', not new), or the tuples themselves were written by an
        unfinished run since (a killed run may have added messages the index still calls new).
        Rare by nature. Read by the model and by its pre-hook, both before it writes.
    -#}
    {%- if not execute or not idstitch.is_incremental_run() -%}{{ return(false) }}{%- endif -%}
    {%- if 'changed_in_run_at' not in adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        {{ return(true) }}  {#- built before the tuples carried a stamp #}
    {%- endif -%}
    {%- set since = idstitch.changed_since_complete_run() -%}
    {%- set result = run_query(
        "select (select count(*) from " ~ ref('int_idstitch__messages')
        ~ " where change_kind in ('replaced', 'rebuilt') and " ~ since ~ ")"
        ~ " + (select count(*) from " ~ this ~ " where " ~ since ~ ")") -%}
    {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}


{% macro clear_if_recomputed() -%}
    {#- pre-hook of the id tuples: when this run recomputes them from the index (see
        recompute_id_tuples), empty the table first, so the delete+insert that follows leaves
        exactly the recomputed rows. -#}
    {%- if idstitch.is_incremental_run() and idstitch.recompute_id_tuples() -%}
        {{ idstitch.delete_rows(this) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{% macro injective_key(columns) -%}
    {#- One non-null text key for a combination of nullable text columns, hashed to 32 characters
        (idstitch.injective_text). -#}
    md5({{ idstitch.injective_text(columns) }})
{%- endmacro %}


{% macro injective_text(columns) -%}
    {#- One non-null text for a combination of nullable text columns: distinct combinations give
        distinct texts (each part is "n" for null or "v<length>:<value>"). -#}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("case when " ~ column ~ " is null then 'n' else "
            ~ dbt.concat(["'v'", "cast(length(" ~ column ~ ") as " ~ dbt.type_string() ~ ")", "':'", column])
            ~ " end") -%}
    {%- endfor -%}
    {{ dbt.concat(parts) }}
{%- endmacro %}


{% macro tuple_key(columns) -%}
    {#- The id tuples' key (idstitch.injective_key), built once per tuple. -#}
    {{ return(adapter.dispatch('tuple_key', 'idstitch')(columns)) }}
{%- endmacro %}

{% macro default__tuple_key(columns) -%}
    {{ idstitch.injective_key(columns) }}
{%- endmacro %}

{#-
    Postgres: the unhashed text. md5 costs about 0.9 µs a row there, 0.6 s of the id-tuple build at
    100,000 persons (650 k tuples), more than building the text itself; the longer key costs the
    write less than that. Other engines hash cheaply and keep the narrower key (Spark shuffles it).
-#}
{% macro postgres__tuple_key(columns) -%}
    {{ idstitch.injective_text(columns) }}
{%- endmacro %}
