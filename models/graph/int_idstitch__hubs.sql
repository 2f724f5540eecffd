{#-
    Identifiers linked to more distinct identifiers than var idstitch__max_links_per_identifier:
    a kiosk, a test account, a user id one buggy client sends for everyone. They are quarantined
    before the closure, so they can weld nothing together (and never skew the closure's work).
-#}

with linked_pairs as (

    {#- one row per linked pair. Links hold a pair once per link kind and source, always in key order
        (key_a < key_b), never reversed: so after `distinct` each end below counts a neighbour once -#}
    select distinct key_a, key_b from {{ ref('int_idstitch__links') }}

),

link_ends as (

    select key_a as identifier_key from linked_pairs
    union all
    select key_b from linked_pairs

),

final as (

    select
        identifier_key,
        count(*) as n_linked_identifiers
    from link_ends
    group by identifier_key
    having count(*) > {{ var('idstitch__max_links_per_identifier') | int }}

)

select * from final
