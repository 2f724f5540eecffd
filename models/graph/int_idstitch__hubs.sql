{#-
    Identifiers linked to more distinct identifiers than var idstitch__max_links_per_identifier:
    a kiosk, a test account, a user id one buggy client sends for everyone. They are quarantined
    before the closure, so they can weld nothing together (and never skew the closure's work).
-#}

with links as (

    select key_a, key_b from {{ ref('int_idstitch__links') }}

),

neighbours as (

    select key_a as identifier_key, key_b as neighbour_key from links
    union
    select key_b, key_a from links

),

final as (

    select
        identifier_key,
        count(*) as n_linked_identifiers
    from neighbours
    group by identifier_key
    having count(*) > {{ var('idstitch__max_links_per_identifier') | int }}

)

select * from final
