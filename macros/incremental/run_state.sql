{% macro run_stamp() -%}
    {#- This invocation's start time as a timestamp literal: the same for every model of one
        `dbt build`, so "rows written by this run" is `changed_in_run_at = run_stamp()`. -#}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}


{% macro receipt_order(received_at, event_at, id_columns) -%}
    {#-
        Which receipt of a message id wins: the first received (then the earliest event time,
        then the ids, so that two receipts in the same microsecond still give one answer on every
        engine). The full build, the incremental path and the staging views all use this order.
    -#}
    {{ received_at }} asc nulls last, {{ event_at }} asc nulls last
    {%- for column in id_columns %}, {{ column }} asc nulls last{%- endfor %}
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


{% macro messages_replaced_this_run() -%}
    {#-
        True when this run's message index rows include a replaced winner (an earlier receipt of
        a known message arrived late): additive models then recompute everything instead of
        adding up, because the old winner's contribution cannot be subtracted. Rare by nature.
    -#}
    {%- if not execute or not idstitch.is_incremental_run() -%}{{ return(false) }}{%- endif -%}
    {%- set result = run_query(
        "select count(*) from " ~ ref('int_idstitch__messages')
        ~ " where change_kind = 'replaced' and changed_in_run_at = " ~ idstitch.run_stamp()) -%}
    {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}


{% macro clear_if_messages_replaced() -%}
    {#- pre-hook of an additive incremental model: when this run recomputes it from the index (a
        winner was replaced, see messages_replaced_this_run), empty it first, so the delete+insert
        that follows leaves exactly the recomputed rows. -#}
    {%- if idstitch.is_incremental_run() and idstitch.messages_replaced_this_run() -%}
        {{ idstitch.delete_rows(this) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{% macro injective_key(columns) -%}
    {#- One non-null text key for a combination of nullable text columns (distinct combinations give
        distinct keys: each part is "n" for null or "v<length>:<value>"), hashed to 32 characters. -#}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("case when " ~ column ~ " is null then 'n' else "
            ~ dbt.concat(["'v'", "cast(length(" ~ column ~ ") as " ~ dbt.type_string() ~ ")", "':'", column])
            ~ " end") -%}
    {%- endfor -%}
    md5({{ dbt.concat(parts) }})
{%- endmacro %}
