{#-
    Raw id value → its clean identifier and person: what the facts and the shared-device sessions
    join on, so that no message is cleaned row by row. Junk values are absent (no identifier);
    quarantined identifiers are present with a null person_id.
-#}

with identifier_values as (

    select value_type, raw_value, identifier_type, identifier
    from {{ ref('int_idstitch__identifier_values') }}
    where identifier is not null

),

identity_map as (

    select identifier_type, identifier, identity_status, person_id, is_identified_person
    from {{ ref('int_idstitch__identity_map') }}

),

final as (

    select
        identifier_values.value_type,
        identifier_values.raw_value,
        identifier_values.identifier_type,
        identifier_values.identifier,
        identity_map.identity_status,
        identity_map.person_id,
        identity_map.is_identified_person
    from identifier_values
    inner join identity_map
        on identifier_values.identifier_type = identity_map.identifier_type
        and identifier_values.identifier = identity_map.identifier

)

select * from final
