{{ config(alias='dim_person', materialized=idstitch.table_materialization()) }}

{#-
    One row per person: every person that owns an identifier or an event. customer_id is the
    readable name: the latest user id, else the latest e-mail, else the latest anonymous id (else
    the message id of an unattributable message). Traits: the newest non-null value wins.
-#}
{%- set traits = var('idstitch__traits') -%}
{%- set event_sources = idstitch.event_sources() -%}

with person_identifiers as (

    select * from {{ ref('idstitch__person_identifiers') }}

),

identifies as (

    select * from {{ ref('idstitch__fct_identifies') }}

),

events as (

    {%- for event_source in event_sources %}
    select person_id, message_id, anonymous_id, event_at
    from {{ ref('idstitch__fct_' ~ event_source) }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}

),

event_stats as (

    select
        person_id,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        count(*) as n_events,
        min({{ idstitch.bytewise('anonymous_id') }}) as some_anonymous_id,
        min({{ idstitch.bytewise('message_id') }}) as some_message_id
    from events
    group by person_id

),

identifier_stats as (

    select
        person_id,
        sum(case when identifier_type = 'user_id' then 1 else 0 end) as n_user_ids,
        sum(case when identifier_type = 'anonymous_id' then 1 else 0 end) as n_anonymous_ids,
        sum(case when identifier_type = 'email' then 1 else 0 end) as n_emails,
        {#- the order timestamp is null on the other types' rows too, so the sort key is built only
            for the rows that can win (three keys a row cost more than the rest of this aggregation) #}
        {%- for identifier_type in ['user_id', 'email', 'anonymous_id'] %}
        {{ idstitch.last_by("case when identifier_type = '" ~ identifier_type ~ "' then identifier end",
                            "case when identifier_type = '" ~ identifier_type ~ "' then last_seen_at end") }}
            as latest_{{ identifier_type }},
        {%- endfor %}
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at
    from person_identifiers
    group by person_id

),

latest_traits as (

    {#- traits: newest non-null value of each, one aggregation (no window per trait); the sort key
        only where the trait is set #}
    select
        person_id
        {%- for trait in traits %},
        {{ idstitch.last_by('cast(' ~ trait ~ ' as ' ~ dbt.type_string() ~ ')',
                            'case when ' ~ trait ~ ' is not null then event_at end') }} as {{ trait }}
        {%- endfor %}
    from identifies
    group by person_id

),

final as (

    select
        coalesce(event_stats.person_id, identifier_stats.person_id) as person_id,
        coalesce(
            identifier_stats.latest_user_id,
            identifier_stats.latest_email,
            identifier_stats.latest_anonymous_id,
            event_stats.some_anonymous_id,
            event_stats.some_message_id
        ) as customer_id,
        coalesce(identifier_stats.n_user_ids, 0) > 0 as is_identified,
        {%- for trait in traits %}
        latest_traits.{{ trait }},
        {%- endfor %}
        case
            when identifier_stats.first_seen_at is null then event_stats.first_seen_at
            when event_stats.first_seen_at is null then identifier_stats.first_seen_at
            when event_stats.first_seen_at < identifier_stats.first_seen_at then event_stats.first_seen_at
            else identifier_stats.first_seen_at
        end as first_seen_at,
        case
            when identifier_stats.last_seen_at is null then event_stats.last_seen_at
            when event_stats.last_seen_at is null then identifier_stats.last_seen_at
            when event_stats.last_seen_at > identifier_stats.last_seen_at then event_stats.last_seen_at
            else identifier_stats.last_seen_at
        end as last_seen_at,
        coalesce(identifier_stats.n_user_ids, 0) as n_user_ids,
        coalesce(identifier_stats.n_anonymous_ids, 0) as n_anonymous_ids,
        coalesce(identifier_stats.n_emails, 0) as n_emails,
        coalesce(event_stats.n_events, 0) as n_events
    {#- every person with events or identifiers: one full join, not a union of both sides' ids #}
    from event_stats
    full outer join identifier_stats on event_stats.person_id = identifier_stats.person_id
    left join latest_traits
        on coalesce(event_stats.person_id, identifier_stats.person_id) = latest_traits.person_id
)

select * from final
