{#-
    Every candidate link between two identifiers, with its provenance: one row per identifier pair
    (smaller key first), link kind and source table. Whether a link is accepted is decided later
    (int_idstitch__identity_map); this model only records the evidence.
-#}

with message_identifiers as (

    select * from {{ ref('int_idstitch__message_identifiers') }}

),

identifiers as (

    select identifier_key, identifier_type, identifier
    from {{ ref('int_idstitch__identifiers') }}

),

keyed as (

    select
        message_identifiers.source_table,
        message_identifiers.link_kind,
        message_identifiers.message_id,
        message_identifiers.event_at,
        message_identifiers.received_at,
        identifiers.identifier_key
    from message_identifiers
    inner join identifiers
        on message_identifiers.identifier_type = identifiers.identifier_type
        and message_identifiers.identifier = identifiers.identifier

),

message_pairs as (

    select
        a.identifier_key as key_a,
        b.identifier_key as key_b,
        a.link_kind,
        a.source_table,
        a.message_id,
        a.event_at,
        a.received_at
    from keyed as a
    inner join keyed as b
        on a.source_table = b.source_table
        and a.message_id = b.message_id
        and a.identifier_key < b.identifier_key

),

ranked as (

    select
        *,
        row_number() over (
            partition by key_a, key_b, link_kind, source_table
            order by event_at asc nulls last, message_id
        ) as evidence_rank
    from message_pairs

),

aggregated as (

    select
        key_a,
        key_b,
        link_kind,
        source_table,
        max(case when evidence_rank = 1 then message_id end) as first_message_id,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        min(received_at) as first_received_at,
        count(*) as message_count
    from ranked
    group by key_a, key_b, link_kind, source_table

),

final as (

    select
        aggregated.key_a,
        aggregated.key_b,
        identifier_a.identifier_type as identifier_type_a,
        identifier_a.identifier as identifier_a,
        identifier_b.identifier_type as identifier_type_b,
        identifier_b.identifier as identifier_b,
        aggregated.link_kind,
        aggregated.source_table,
        aggregated.first_message_id,
        aggregated.first_seen_at,
        aggregated.last_seen_at,
        aggregated.first_received_at,
        aggregated.message_count
    from aggregated
    inner join identifiers as identifier_a on aggregated.key_a = identifier_a.identifier_key
    inner join identifiers as identifier_b on aggregated.key_b = identifier_b.identifier_key

)

select * from final
