{{ config(alias='person_identifiers', materialized=idstitch.table_materialization()) }}

{#- Every identifier that belongs to a person. Quarantined identifiers (hubs, e-mails of several
    accounts) belong to none and are listed in identity_refusals instead. -#}

with identity_map as (

    select * from {{ ref('int_idstitch__identity_map') }}

),

final as (

    select
        identifier_type,
        identifier,
        person_id,
        identity_status,
        first_seen_at,
        last_seen_at,
        message_count
    from identity_map
    where person_id is not null

)

select * from final
