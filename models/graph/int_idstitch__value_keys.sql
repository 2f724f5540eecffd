{#-
    Raw id value → the integer key of its clean identifier (junk values have none). A table of its
    own so the models joining raw values to keys (links, value_persons) plan with statistics.
-#}

with identifier_values as (

    select value_type, raw_value, identifier_type, identifier
    from {{ ref('int_idstitch__identifier_values') }}
    where identifier is not null

),

identifiers as (

    select identifier_key, identifier_type, identifier
    from {{ ref('int_idstitch__identifiers') }}

),

final as (

    select
        identifier_values.value_type,
        identifier_values.raw_value,
        identifiers.identifier_key,
        identifiers.identifier_type,
        identifiers.identifier
    from identifier_values
    inner join identifiers
        on identifier_values.identifier_type = identifiers.identifier_type
        and identifier_values.identifier = identifiers.identifier

)

select * from final
