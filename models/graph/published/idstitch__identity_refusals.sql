{{ config(alias='identity_refusals', materialized=idstitch.table_materialization()) }}

{#- One row per refused link and per quarantined identifier, with the reason. -#}

with links as (

    select * from {{ ref('idstitch__identity_links') }}

),

identity_map as (

    select * from {{ ref('int_idstitch__identity_map') }}

),


refused_links as (

    select
        'link' as refusal_kind,
        refusal_reason as reason,
        identifier_type_a,
        identifier_a,
        identifier_type_b,
        identifier_b,
        link_kind,
        source_table,
        first_message_id,
        first_seen_at,
        message_count as n_messages
    from links
    where not is_accepted

),

quarantined_identifiers as (

    select
        'identifier' as refusal_kind,
        case
            when identity_map.anchor_status = 'hub' then 'hub_identifier'
            else 'identifier_shared_by_user_ids'
        end as reason,
        identity_map.identifier_type as identifier_type_a,
        identity_map.identifier as identifier_a,
        cast(null as {{ dbt.type_string() }}) as identifier_type_b,
        cast(null as {{ dbt.type_string() }}) as identifier_b,
        cast(null as {{ dbt.type_string() }}) as link_kind,
        cast(null as {{ dbt.type_string() }}) as source_table,
        cast(null as {{ dbt.type_string() }}) as first_message_id,
        identity_map.first_seen_at,
        identity_map.message_count as n_messages
    from identity_map
    where identity_map.anchor_status in ('hub', 'shared')

),

final as (

    select * from refused_links
    union all
    select * from quarantined_identifiers

)

select * from final
