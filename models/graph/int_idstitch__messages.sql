{#-
    Every message of every source once, narrow: its ids and times, nothing else. The graph models
    read this table instead of the wide staging views, so each raw table is scanned once for the
    graph and once for its fact table. An alias carries its previous_id untyped here (typed in
    int_idstitch__identifiers).
-#}
{%- set identifier_traits = var('idstitch__identifier_traits') -%}
{%- set null_text = 'cast(null as ' ~ dbt.type_string() ~ ')' -%}

with

{%- for event_source in idstitch.event_sources() %}

{{ event_source }} as (

    select
        '{{ event_source }}' as source_table,
        '{{ "identify" if event_source == "identifies" else "event" }}' as link_kind,
        message_id,
        anonymous_id,
        user_id,
        {{ null_text }} as previous_id,
        {%- for trait in identifier_traits %}
        {{ trait if event_source == 'identifies' else null_text }} as {{ trait }},
        {%- endfor %}
        event_at,
        received_at
    from {{ ref('stg_idstitch__' ~ event_source) }}

),
{%- endfor %}

{%- if idstitch.table_enabled('aliases') %}

aliases as (

    select
        'aliases' as source_table,
        'alias' as link_kind,
        message_id,
        {{ null_text }} as anonymous_id,
        user_id,
        previous_id,
        {%- for trait in identifier_traits %}
        {{ null_text }} as {{ trait }},
        {%- endfor %}
        event_at,
        received_at
    from {{ ref('stg_idstitch__aliases') }}

),
{%- endif %}

final as (

    {%- set sources = idstitch.event_sources() + (['aliases'] if idstitch.table_enabled('aliases') else []) %}
    {%- for message_source in sources %}
    select * from {{ message_source }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}

)

select * from final
