{#-
    Raw id value → its clean identifier and person: what the facts and the shared-device sessions
    join on, so that no message is cleaned row by row. Junk values are absent (no identifier);
    quarantined identifiers are present with a null person_id.
-#}

with value_keys as (

    select value_type, raw_value, identifier_key, identifier
    from {{ ref('int_idstitch__value_keys') }}

),

identity_map as (

    select identifier_key, identity_status, person_id, is_identified_person
    from {{ ref('int_idstitch__identity_map') }}

),

final as (

    select
        value_keys.value_type,
        value_keys.raw_value,
        value_keys.identifier,
        identity_map.identity_status,
        identity_map.person_id,
        identity_map.is_identified_person
    from value_keys
    inner join identity_map on value_keys.identifier_key = identity_map.identifier_key

)

select * from final
