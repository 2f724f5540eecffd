{{ config(materialized='idstitch_closure', closure_name='user_groups') }}

{#-
    Closure 1 of 2: user ids joined by aliases (renames, chains of renames). This is the only way
    two user ids may end up in one person (rule 3). Output: node, label (smallest key).
-#}

with links as (

    select * from {{ ref('int_idstitch__links') }}

),

hubs as (

    select identifier_key from {{ ref('int_idstitch__hubs') }}

),

final as (

    select links.key_a as node_a, links.key_b as node_b
    from links
    where
        links.link_kind = 'alias'
        and links.identifier_type_a = 'user_id'
        and links.identifier_type_b = 'user_id'
        and links.key_a not in (select identifier_key from hubs)
        and links.key_b not in (select identifier_key from hubs)

)

select * from final
