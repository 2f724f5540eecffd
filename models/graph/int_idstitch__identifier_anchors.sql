{#-
    Which user-id group (account) each identifier is directly linked to. A user id belongs to its
    alias group. Any other identifier (anonymous id, e-mail) linked to exactly one group is
    anchored there; linked to two or more it is shared (a household computer, a kiosk, an e-mail
    of two accounts) and joins none of them; linked to none it is unanchored for now.
-#}

with identifiers as (

    select identifier_key, identifier_type from {{ ref('int_idstitch__identifiers') }}

),

links as (

    select key_a, key_b from {{ ref('int_idstitch__links') }}

),

hubs as (

    select identifier_key from {{ ref('int_idstitch__hubs') }}

),

user_groups as (

    select node, label from {{ ref('int_idstitch__user_groups') }}

),

user_ids as (

    select
        identifiers.identifier_key,
        coalesce(user_groups.label, identifiers.identifier_key) as user_group
    from identifiers
    left join user_groups on identifiers.identifier_key = user_groups.node
    where
        identifiers.identifier_type = 'user_id'
        and identifiers.identifier_key not in (select identifier_key from hubs)

),

both_directions as (

    select key_a as identifier_key, key_b as neighbour_key from links
    union all
    select key_b, key_a from links

),

direct_groups as (

    select
        both_directions.identifier_key,
        count(distinct user_ids.user_group) as n_user_groups,
        min(user_ids.user_group) as user_group
    from both_directions
    inner join user_ids on both_directions.neighbour_key = user_ids.identifier_key
    inner join identifiers on both_directions.identifier_key = identifiers.identifier_key
    where identifiers.identifier_type <> 'user_id'
    group by both_directions.identifier_key

),

final as (

    select
        identifiers.identifier_key,
        identifiers.identifier_type,
        case
            when hubs.identifier_key is not null then 'hub'
            when identifiers.identifier_type = 'user_id' then 'user_id'
            when direct_groups.n_user_groups > 1 then 'shared'
            when direct_groups.n_user_groups = 1 then 'anchored'
            else 'unanchored'
        end as anchor_status,
        case
            when hubs.identifier_key is not null then null
            when identifiers.identifier_type = 'user_id' then user_ids.user_group
            when direct_groups.n_user_groups = 1 then direct_groups.user_group
        end as user_group,
        coalesce(direct_groups.n_user_groups, 0) as n_user_groups
    from identifiers
    left join hubs on identifiers.identifier_key = hubs.identifier_key
    left join user_ids on identifiers.identifier_key = user_ids.identifier_key
    left join direct_groups on identifiers.identifier_key = direct_groups.identifier_key

)

select * from final
