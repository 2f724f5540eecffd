{% macro stage_messages(table_name, identifier_columns, extra_required=[]) -%}
    {#-
        The staging SQL shared by the message tables: rename `id` → message_id and `timestamp` →
        event_at, cast, clean the identifier columns (idstitch.clean_identifier), pass every other
        source column through, and keep one row per message id (a replayed message counts once:
        the first received wins).

        identifier_columns: {source column: lowercase?}
    -#}
    {%- set required = ['id', 'timestamp', 'received_at'] + (identifier_columns.keys() | list) + extra_required -%}
    {%- set columns = idstitch.source_columns('idstitch_segment', table_name, required) -%}
    {%- set passthrough = idstitch.passthrough_columns(columns, required) -%}
    {%- set output_columns = ['message_id'] + (identifier_columns.keys() | list) + extra_required
                             + ['event_at', 'received_at'] + passthrough -%}

with source as (

    select * from {{ source('idstitch_segment', table_name) }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as message_id,
        {%- for column, lowercase in identifier_columns.items() %}
        {{ idstitch.clean_identifier(column, lowercase) }} as {{ column }},
        {%- endfor %}
        {%- for column in extra_required %}
        {{ column }},
        {%- endfor %}
        cast({{ adapter.quote('timestamp') }} as {{ dbt.type_timestamp() }}) as event_at,
        cast(received_at as {{ dbt.type_timestamp() }}) as received_at
        {%- for column in passthrough %},
        {{ column }}
        {%- endfor %}
    from source
    where id is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by message_id
            order by received_at asc nulls last, event_at asc nulls last
        ) as replay_rank
    from renamed

),

final as (

    select {{ output_columns | join(', ') }}
    from ranked
    where replay_rank = 1

)

select * from final
{%- endmacro %}
