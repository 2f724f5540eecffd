{{ config(materialized='idstitch_closure', closure_name='anonymous_groups') }}

{#-
    Closure 2 of 2: anonymous ids and e-mails joined by links among themselves (an e-mail tool's
    subscriber id and the e-mail, an alias from a device id to another). Shared identifiers and
    hubs take no part, so they cannot carry one account's devices over to another.
-#}

with links as (

    select * from {{ ref('int_idstitch__links') }}

),

eligible as (

    select identifier_key
    from {{ ref('int_idstitch__identifier_anchors') }}
    where anchor_status in ('anchored', 'unanchored')

),

final as (

    select links.key_a as node_a, links.key_b as node_b
    from links
    inner join eligible as eligible_a on links.key_a = eligible_a.identifier_key
    inner join eligible as eligible_b on links.key_b = eligible_b.identifier_key

)

select * from final
