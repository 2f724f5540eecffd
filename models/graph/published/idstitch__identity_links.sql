{{ config(alias='identity_links', materialized=idstitch.table_materialization()) }}

{#-
    The identity graph's edges: every link the data offered, with its provenance, and whether it
    was accepted. A link is accepted when both ends belong to the same person; otherwise the
    reason names the guard that refused it.
-#}

{#- the identity map is joined twice: referenced directly, not through an import CTE, which Postgres
    would materialise (a copy of the map) and then join without statistics (docs/decisions/0005) -#}
with judged as (

    select
        links.*,
        end_a.person_id as person_id_a,
        end_b.person_id as person_id_b,
        case
            when end_a.anchor_status = 'hub' or end_b.anchor_status = 'hub' then 'hub_identifier'
            when end_a.anchor_status = 'shared' or end_b.anchor_status = 'shared'
                then 'identifier_shared_by_user_ids'
            when end_a.identity_status = 'ambiguous' or end_b.identity_status = 'ambiguous'
                then 'ambiguous_bridge'
            when end_a.person_group <> end_b.person_group then 'joins_different_user_ids'
        end as refusal_reason
    from {{ ref('int_idstitch__links') }} as links
    inner join {{ ref('int_idstitch__identity_map') }} as end_a on links.key_a = end_a.identifier_key
    inner join {{ ref('int_idstitch__identity_map') }} as end_b on links.key_b = end_b.identifier_key

),

final as (

    select
        identifier_type_a,
        identifier_a,
        identifier_type_b,
        identifier_b,
        link_kind,
        source_table,
        first_message_id,
        first_seen_at,
        last_seen_at,
        message_count,
        refusal_reason is null as is_accepted,
        refusal_reason,
        person_id_a,
        person_id_b
    from judged

)

select * from final
