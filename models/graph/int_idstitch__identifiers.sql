{#-
    One row per typed identifier, with an integer key for the closure. The key orders identifiers
    by when they were first received (ties: type, then value), so the smallest key of a person is
    its anchor: the identifier that names the person (person_id). New data only ever appends later
    keys, which keeps anchors — and so person ids — stable as tables grow (docs/decisions/0003).
-#}

with identifier_values as (

    select * from {{ ref('int_idstitch__identifier_values') }}

),

per_identifier as (

    select
        identifier_type,
        identifier,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        min(first_received_at) as first_received_at,
        sum(message_count) as message_count
    from identifier_values
    where identifier is not null
    group by identifier_type, identifier

),

final as (

    select
        row_number() over (
            order by
                first_received_at asc nulls last,
                {{ idstitch.bytewise('identifier_type') }},
                {{ idstitch.bytewise('identifier') }}
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
