{#-
    One row per typed identifier, with an integer key for the closure. The key orders identifiers
    by when they were first received (ties: type, then value), so the smallest key of a person is
    its anchor: the identifier that names the person (person_id). New data only ever appends later
    keys, which keeps anchors — and so person ids — stable as tables grow (docs/decisions).
-#}

with message_identifiers as (

    select * from {{ ref('int_idstitch__message_identifiers') }}

),

per_identifier as (

    select
        identifier_type,
        identifier,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        min(received_at) as first_received_at,
        count(*) as message_count
    from message_identifiers
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
    from per_identifier

)

select * from final
