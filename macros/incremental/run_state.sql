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
