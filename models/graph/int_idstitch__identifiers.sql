{#-
    One row per typed identifier, with an integer key for the closure. The key orders identifiers
    by when they were first received (ties: type, then value), so the smallest key of a person is
    its anchor: the identifier that names the person (person_id). New data only ever appends later
    keys, which keeps anchors — and so person ids — stable as tables grow (docs/decisions/0003).

    An alias's previous_id is an anonymous id when the value is only ever seen as one (Mixpanel-
    style alias of a device id), otherwise a user id (a rename).

    `int_idstitch__messages` is referenced directly in each branch: Postgres materialises a CTE that
    is read more than once, which would copy the whole message table.
-#}

with observed as (

    select 'anonymous_id' as identifier_type, anonymous_id as identifier, event_at, received_at
    from {{ ref('int_idstitch__messages') }}
    where anonymous_id is not null

    union all

    select 'user_id', user_id, event_at, received_at
    from {{ ref('int_idstitch__messages') }}
    where user_id is not null
    {%- for trait in var('idstitch__identifier_traits') %}

    union all

    select '{{ trait }}', {{ trait }}, event_at, received_at
    from {{ ref('int_idstitch__messages') }}
    where {{ trait }} is not null
    {%- endfor %}

),

per_identifier as (

    select
        identifier_type,
        identifier,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        min(received_at) as first_received_at,
        count(*) as message_count
    from observed
    group by identifier_type, identifier

),

previous_ids as (

    select
        previous_id,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        min(received_at) as first_received_at,
        count(*) as message_count
    from {{ ref('int_idstitch__messages') }}
    where previous_id is not null
    group by previous_id

),

typed_previous_ids as (

    select
        case
            when as_anonymous.identifier is not null and as_user.identifier is null then 'anonymous_id'
            else 'user_id'
        end as identifier_type,
        previous_ids.previous_id as identifier,
        previous_ids.first_seen_at,
        previous_ids.last_seen_at,
        previous_ids.first_received_at,
        previous_ids.message_count
    from previous_ids
    left join per_identifier as as_anonymous
        on as_anonymous.identifier_type = 'anonymous_id' and previous_ids.previous_id = as_anonymous.identifier
    left join per_identifier as as_user
        on as_user.identifier_type = 'user_id' and previous_ids.previous_id = as_user.identifier

),

combined as (

    select
        identifier_type,
        identifier,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        min(first_received_at) as first_received_at,
        sum(message_count) as message_count
    from (
        select * from per_identifier
        union all
        select * from typed_previous_ids
    ) as both_kinds
    group by identifier_type, identifier

),

final as (

    select
        row_number() over (
            order by first_received_at asc nulls last, identifier_type, identifier
        ) as identifier_key,
        identifier_type,
        identifier,
        first_seen_at,
        last_seen_at,
        first_received_at,
        message_count
    from combined

)

select * from final
