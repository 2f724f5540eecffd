{#-
    Every candidate link between two identifiers, with its provenance: one row per identifier pair
    (smaller key first), link kind and source table. Whether a link is accepted is decided later
    (int_idstitch__identity_map); this model only records the evidence.

    Pairs come straight from the id tuples (a message carries at most an anonymous id, a user id,
    an alias's previous id and its identifier traits), are keyed through int_idstitch__value_keys
    (raw value → clean identifier's key) and aggregated once per key pair: no self-join of messages,
    no per-message cleaning. A pair with a junk end has no key and drops out.
-#}
{%- set identifier_traits = var('idstitch__identifier_traits') -%}
{#- a link's provenance, rolled up from the tuples that carried it (in either direction) -#}
{%- set provenance -%}
{{ idstitch.first_by('first_message_id', 'first_seen_at') }} as first_message_id,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        min(first_received_at) as first_received_at,
        sum(message_count) as message_count
{%- endset -%}

with message_pairs as (

    select
        source_table, link_kind, first_message_id, first_seen_at, last_seen_at, first_received_at, message_count,
        'anonymous_id' as value_type_a, anonymous_id as value_a, 'user_id' as value_type_b, user_id as value_b
    from {{ ref('int_idstitch__id_tuples') }}
    where anonymous_id is not null and user_id is not null
    {%- for trait in identifier_traits %}
    {%- for id_column in ['anonymous_id', 'user_id'] %}

    union all

    select
        source_table, link_kind, first_message_id, first_seen_at, last_seen_at, first_received_at, message_count,
        '{{ id_column }}', {{ id_column }}, '{{ trait }}', {{ trait }}
    from {{ ref('int_idstitch__id_tuples') }}
    where {{ id_column }} is not null and {{ trait }} is not null
    {%- endfor %}
    {%- endfor %}

    union all

    select
        source_table, link_kind, first_message_id, first_seen_at, last_seen_at, first_received_at, message_count,
        'previous_id', previous_id, 'user_id', user_id
    from {{ ref('int_idstitch__id_tuples') }}
    where previous_id is not null and user_id is not null

),

keyed as (

    {#- keyed per tuple and aggregated once, below: the tuples' pairs are nearly as many as the
        distinct raw-value pairs, so aggregating on raw values first only added an aggregation -#}
    select
        end_a.identifier_key as key_1,
        end_b.identifier_key as key_2,
        end_a.identifier_type as identifier_type_1,
        end_a.identifier as identifier_1,
        end_b.identifier_type as identifier_type_2,
        end_b.identifier as identifier_2,
        message_pairs.link_kind,
        message_pairs.source_table,
        message_pairs.first_message_id,
        message_pairs.first_seen_at,
        message_pairs.last_seen_at,
        message_pairs.first_received_at,
        message_pairs.message_count
    from message_pairs
    inner join {{ ref('int_idstitch__value_keys') }} as end_a
        on message_pairs.value_type_a = end_a.value_type and message_pairs.value_a = end_a.raw_value
    inner join {{ ref('int_idstitch__value_keys') }} as end_b
        on message_pairs.value_type_b = end_b.value_type and message_pairs.value_b = end_b.raw_value

),

final as (

    {#- undirected: an alias u1 → u2 and another u2 → u1 are one link. The ends' clean identifiers
        come along from the value map (one per key, so min() just carries them): joining the
        identifiers again for them cost more than the whole aggregation's extra width -#}
    select
        case when key_1 < key_2 then key_1 else key_2 end as key_a,
        case when key_1 < key_2 then key_2 else key_1 end as key_b,
        min(case when key_1 < key_2 then identifier_type_1 else identifier_type_2 end) as identifier_type_a,
        min(case when key_1 < key_2 then identifier_1 else identifier_2 end) as identifier_a,
        min(case when key_1 < key_2 then identifier_type_2 else identifier_type_1 end) as identifier_type_b,
        min(case when key_1 < key_2 then identifier_2 else identifier_1 end) as identifier_b,
        link_kind,
        source_table,
        {{ provenance }}
    from keyed
    where key_1 <> key_2
    group by
        case when key_1 < key_2 then key_1 else key_2 end,
        case when key_1 < key_2 then key_2 else key_1 end,
        link_kind,
        source_table

)

select * from final
