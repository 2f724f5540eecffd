{#-
    Every distinct combination of ids that messages carried, per source: (anonymous id, user id,
    alias previous id, identifier traits) with how many messages carried it, when, and the first of
    them. 4.5 M messages collapse to a few hundred thousand tuples in one pass over the sources;
    identifiers and links are then derived from this small table instead of from every message.
    Raw values: cleaning happens per distinct value in int_idstitch__identifier_values.
-#}
{%- set identifier_traits = var('idstitch__identifier_traits') -%}
{%- set null_text = 'cast(null as ' ~ dbt.type_string() ~ ')' -%}
{%- set sources = idstitch.event_sources() + (['aliases'] if idstitch.table_enabled('aliases') else []) -%}

with messages as (

    {%- for message_source in sources %}
    select
        '{{ message_source }}' as source_table,
        '{{ {"identifies": "identify", "aliases": "alias"}.get(message_source, "event") }}' as link_kind,
        message_id,
        {{ null_text if message_source == 'aliases' else 'anonymous_id' }} as anonymous_id,
        user_id,
        {{ 'previous_id' if message_source == 'aliases' else null_text }} as previous_id,
        {%- for trait in identifier_traits %}
        {{ trait if message_source == 'identifies' else null_text }} as {{ trait }},
        {%- endfor %}
        event_at,
        received_at
    from {{ ref('stg_idstitch__' ~ message_source) }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}

),

final as (

    select
        source_table,
        link_kind,
        anonymous_id,
        user_id,
        previous_id,
        {%- for trait in identifier_traits %}
        {{ trait }},
        {%- endfor %}
        {{ idstitch.first_by('message_id', 'event_at') }} as first_message_id,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        min(received_at) as first_received_at,
        count(*) as message_count
    from messages
    group by
        source_table,
        link_kind,
        anonymous_id,
        user_id,
        previous_id
        {%- for trait in identifier_traits %},
        {{ trait }}
        {%- endfor %}

)

select * from final
