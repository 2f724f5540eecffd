{{ config(materialized="table", post_hook="{{ idstitch.analyze_table(this) }}") }}

{#-
    Message ids received more than once (a client retry, a loader replay), per source table. The
    staging views keep the first receipt of these and pass every other row straight through, so
    finding replays costs one aggregation per source instead of a sort of every message on every
    read of a staging view.
-#}
{%- set sources = idstitch.event_sources() + (['aliases'] if idstitch.table_enabled('aliases') else []) -%}

with
{%- for message_source in sources %}

{{ message_source }}_replays as (

    select
        '{{ message_source }}' as source_table,
        cast(id as {{ dbt.type_string() }}) as message_id,
        count(*) as n_receipts
    from {{ source('idstitch_segment', message_source) }}
    where id is not null
    group by cast(id as {{ dbt.type_string() }})
    having count(*) > 1

),
{%- endfor %}

final as (

    {%- for message_source in sources %}
    select * from {{ message_source }}_replays
    {{ 'union all' if not loop.last }}
    {%- endfor %}

)

select * from final
