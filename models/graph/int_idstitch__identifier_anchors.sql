{#-
    Which user-id group (account) each identifier is directly linked to. A user id belongs to its
    alias group. Any other identifier (anonymous id, e-mail) linked to exactly one group is
    anchored there; linked to two or more it is shared (a household computer, a kiosk, an e-mail
    of two accounts) and joins none of them; linked to none it is unanchored for now.

    Relations read more than once are referenced directly, not through import CTEs: Postgres
    materialises such CTEs and then plans without statistics (docs/decisions/0005-performance.md).
-#}

with user_ids as (

    select
        identifiers.identifier_key,
        coalesce(user_groups.label, identifiers.identifier_key) as user_group
    from {{ ref('int_idstitch__identifiers') }} as identifiers
    left join {{ ref('int_idstitch__user_groups') }} as user_groups
        on identifiers.identifier_key = user_groups.node
    left join {{ ref('int_idstitch__hubs') }} as hubs
        on identifiers.identifier_key = hubs.identifier_key
    where identifiers.identifier_type = 'user_id' and hubs.identifier_key is null

),

link_ends as (

    select key_a as identifier_key, key_b as neighbour_key from {{ ref('int_idstitch__links') }}
    union all
    select key_b, key_a from {{ ref('int_idstitch__links') }}

),

direct_groups as (

    select
        link_ends.identifier_key,
        count(distinct user_ids.user_group) as n_user_groups,
        min(user_ids.user_group) as user_group
    from link_ends
    inner join user_ids on link_ends.neighbour_key = user_ids.identifier_key
    group by link_ends.identifier_key

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
            when identifiers.identifier_type = 'user_id'
                then coalesce(user_groups.label, identifiers.identifier_key)
            when direct_groups.n_user_groups = 1 then direct_groups.user_group
        end as user_group,
        case
            when identifiers.identifier_type = 'user_id' then 0
            else coalesce(direct_groups.n_user_groups, 0)
        end as n_user_groups
    from {{ ref('int_idstitch__identifiers') }} as identifiers
    left join {{ ref('int_idstitch__hubs') }} as hubs
        on identifiers.identifier_key = hubs.identifier_key
    left join {{ ref('int_idstitch__user_groups') }} as user_groups
        on identifiers.identifier_key = user_groups.node
    left join direct_groups on identifiers.identifier_key = direct_groups.identifier_key

)

select * from final
