{% macro stage_messages(table_name, identifier_columns, extra_required=[]) -%}
    {#-
        The staging SQL shared by the message tables: rename `id` → message_id and `timestamp` →
        event_at, cast ids to text, pass every other source column through, and keep one row per
        message id (a replayed message counts once: the first received wins).

        Identifier values are NOT cleaned row by row here: trimming, lower-casing and junk removal
        happen once per distinct value (int_idstitch__identifier_values) and reach the facts through
        the identity map. Row-by-row cleaning of every id of every message was the most expensive
        step of the build (docs/decisions/0005-performance.md).

        Only replayed ids (stg_idstitch__replayed_messages) go through a window, in the same
        order (idstitch.receipt_order) as the message index int_idstitch__messages; the source is
        referenced directly rather than through an import CTE because Postgres materialises a CTE
        that is read twice — a full copy of the widest table in the build.
    -#}
    {%- set required = ['id', 'timestamp', 'received_at'] + identifier_columns + extra_required -%}
    {%- set columns = idstitch.source_columns('idstitch_segment', table_name, required) -%}
    {%- set passthrough = idstitch.passthrough_columns(columns, required) -%}
    {%- set output_columns = ['message_id'] + identifier_columns + extra_required
                             + ['event_at', 'received_at'] + passthrough -%}
    {%- set message_id = 'cast(source.id as ' ~ dbt.type_string() ~ ')' -%}
    {%- set cast_id_columns = [] -%}
    {%- for column in idstitch.message_id_columns(table_name) -%}
        {%- do cast_id_columns.append('cast(source.' ~ column ~ ' as ' ~ dbt.type_string() ~ ')') -%}
    {%- endfor -%}

    {%- set select_list -%}
        {{ message_id }} as message_id,
        {%- for column in identifier_columns %}
        {{ idstitch.source_value(table_name, column) }} as {{ column }},
        {%- endfor %}
        {%- for column in extra_required %}
        {{ idstitch.source_value(table_name, column, cast_to_string=false) }} as {{ column }},
        {%- endfor %}
        cast(source.{{ adapter.quote('timestamp') }} as {{ dbt.type_timestamp() }}) as event_at,
        cast(source.received_at as {{ dbt.type_timestamp() }}) as received_at
        {%- for column in passthrough %},
        source.{{ column }}
        {%- endfor %}
    {%- endset %}

with replayed_ids as (

    select message_id
    from {{ ref('stg_idstitch__replayed_messages') }}
    where source_table = '{{ table_name }}'

),

first_receipts as (

    select {{ output_columns | join(', ') }}
    from (
        select
            {{ select_list }},
            row_number() over (
                partition by {{ message_id }}
                order by {{ idstitch.receipt_order(
                    'cast(source.received_at as ' ~ dbt.type_timestamp() ~ ')',
                    'cast(source.' ~ adapter.quote('timestamp') ~ ' as ' ~ dbt.type_timestamp() ~ ')',
                    cast_id_columns) }}
            ) as replay_rank
        from {{ source('idstitch_segment', table_name) }} as source
        inner join replayed_ids on {{ message_id }} = replayed_ids.message_id
    ) as ranked
    where replay_rank = 1

),

final as (

    select
        {{ select_list }}
    from {{ source('idstitch_segment', table_name) }} as source
    where
        source.id is not null
        and not exists (select 1 from replayed_ids where replayed_ids.message_id = {{ message_id }})

    union all

    select {{ output_columns | join(', ') }}
    from first_receipts

)

select * from final
{%- endmacro %}
