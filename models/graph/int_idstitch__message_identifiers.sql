{#-
    One row per (message, identifier): the long form of every id a message carries. Junk ids are
    already null in staging and are dropped here. An alias's previous_id is typed as an
    anonymous id when the value is only ever seen as one (Mixpanel-style alias of a device),
    otherwise as a user id (a rename).
-#}
{%- set identifier_traits = var('idstitch__identifier_traits') -%}

with tracks as (

    select message_id, anonymous_id, user_id, event_at, received_at
    from {{ ref('stg_idstitch__tracks') }}

),

{% if idstitch.table_enabled('pages') -%}
pages as (

    select message_id, anonymous_id, user_id, event_at, received_at
    from {{ ref('stg_idstitch__pages') }}

),
{%- endif %}

identifies as (

    select
        message_id, anonymous_id, user_id,
        {%- for trait in identifier_traits %}
        {{ trait }},
        {%- endfor %}
        event_at, received_at
    from {{ ref('stg_idstitch__identifies') }}

),

{% if idstitch.table_enabled('aliases') -%}
aliases as (

    select message_id, previous_id, user_id, event_at, received_at
    from {{ ref('stg_idstitch__aliases') }}

),

alias_previous_ids as (

    select distinct previous_id from aliases where previous_id is not null

),

seen_as_anonymous as (

    {%- set event_sources = idstitch.event_sources() %}
    {%- for event_source in event_sources %}
    select anonymous_id as identifier from {{ event_source }}
    where anonymous_id in (select previous_id from alias_previous_ids)
    {{ 'union' if not loop.last }}
    {%- endfor %}

),

seen_as_user as (

    {%- for event_source in event_sources %}
    select user_id as identifier from {{ event_source }}
    where user_id in (select previous_id from alias_previous_ids)
    union
    {%- endfor %}
    select user_id as identifier from aliases

),

typed_aliases as (

    select
        aliases.*,
        case
            when seen_as_anonymous.identifier is not null and seen_as_user.identifier is null
                then 'anonymous_id'
            else 'user_id'
        end as previous_id_type
    from aliases
    left join seen_as_anonymous on aliases.previous_id = seen_as_anonymous.identifier
    left join seen_as_user on aliases.previous_id = seen_as_user.identifier

),
{%- endif %}

unpivoted as (

    {%- set event_sources = idstitch.event_sources(with_identifies=false) %}
    {%- for event_source in event_sources %}
    select '{{ event_source }}' as source_table, 'event' as link_kind, message_id,
        'anonymous_id' as identifier_type, anonymous_id as identifier, event_at, received_at
    from {{ event_source }} where anonymous_id is not null
    union all
    select '{{ event_source }}', 'event', message_id, 'user_id', user_id, event_at, received_at
    from {{ event_source }} where user_id is not null
    union all
    {%- endfor %}
    select 'identifies', 'identify', message_id, 'anonymous_id', anonymous_id, event_at, received_at
    from identifies where anonymous_id is not null
    union all
    select 'identifies', 'identify', message_id, 'user_id', user_id, event_at, received_at
    from identifies where user_id is not null
    {%- for trait in identifier_traits %}
    union all
    select 'identifies', 'identify', message_id, '{{ trait }}', {{ trait }}, event_at, received_at
    from identifies where {{ trait }} is not null
    {%- endfor %}
    {%- if idstitch.table_enabled('aliases') %}
    union all
    select 'aliases', 'alias', message_id, previous_id_type, previous_id, event_at, received_at
    from typed_aliases where previous_id is not null
    union all
    select 'aliases', 'alias', message_id, 'user_id', user_id, event_at, received_at
    from typed_aliases where user_id is not null
    {%- endif %}

),

final as (

    {#- distinct: an alias from a user id to itself, or an e-mail sent twice, is one identifier -#}
    select distinct
        source_table,
        link_kind,
        message_id,
        identifier_type,
        identifier,
        event_at,
        received_at
    from unpivoted

)

select * from final
