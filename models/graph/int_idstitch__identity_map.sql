{#-
    Every identifier → its person. The rules (docs/decisions/0001-merge-rules.md):
    - a user id belongs to its alias group's person;
    - an anonymous id or e-mail joins the group it is anchored to, or the single group its
      component (closure 2) reaches; a component that reaches no group is an anonymous person;
    - in a component that reaches two or more groups, anchored members stay with their own group
      and the unanchored ones are ambiguous bridges: each becomes a person of its own;
    - a shared or hub anonymous id is a device person of its own (its events are split by
      session later); a shared or hub user id / e-mail belongs to no person.
    The person's anchor is its member received first (smallest key); person_id hashes it.
-#}

{#- identifiers and anchors are read several times: referenced directly, not through import CTEs,
    which Postgres would materialise and then plan without statistics (docs/decisions/0005) -#}
with components as (

    select
        anchors.identifier_key,
        anchors.identifier_type,
        anchors.anchor_status,
        anchors.n_user_groups,
        anchors.user_group,
        coalesce(anonymous_groups.label, anchors.identifier_key) as component
    from {{ ref('int_idstitch__identifier_anchors') }} as anchors
    left join {{ ref('int_idstitch__anonymous_groups') }} as anonymous_groups
        on anchors.identifier_key = anonymous_groups.node
    where anchors.anchor_status in ('anchored', 'unanchored')

),

component_groups as (

    {#- none, one or several groups: min and max tell, in a hash aggregate (count distinct sorts) -#}
    select
        component,
        case
            when min(user_group) is null then 0
            when min(user_group) = max(user_group) then 1
            else 2
        end as n_user_groups,
        min(user_group) as user_group
    from components
    group by component

),

component_members as (

    select
        components.identifier_key,
        components.identifier_type,
        components.anchor_status,
        components.n_user_groups,
        case
            when component_groups.n_user_groups = 0 then 'anonymous'
            when component_groups.n_user_groups = 1 then 'linked'
            when components.user_group is not null then 'linked'
            else 'ambiguous'
        end as identity_status,
        case
            when component_groups.n_user_groups = 0 then components.component
            when component_groups.n_user_groups = 1 then component_groups.user_group
            when components.user_group is not null then components.user_group
            else components.identifier_key
        end as person_group
    from components
    inner join component_groups on components.component = component_groups.component

),

assigned as (

    select
        identifier_key, identifier_type, anchor_status, n_user_groups,
        'user_id' as identity_status, user_group as person_group
    from {{ ref('int_idstitch__identifier_anchors') }}
    where anchor_status = 'user_id'

    union all

    select identifier_key, identifier_type, anchor_status, n_user_groups, identity_status, person_group
    from component_members

    union all

    select
        identifier_key,
        identifier_type,
        anchor_status,
        n_user_groups,
        case when identifier_type = 'anonymous_id' then 'shared_device' else 'quarantined' end,
        case when identifier_type = 'anonymous_id' then identifier_key end
    from {{ ref('int_idstitch__identifier_anchors') }}
    where anchor_status in ('shared', 'hub')

),

persons as (

    select
        person_group,
        min(identifier_key) as anchor_key,
        max(case when identifier_type = 'user_id' then 1 else 0 end) as has_user_id
    from assigned
    where person_group is not null
    group by person_group

),

person_ids as (

    select
        persons.person_group,
        persons.has_user_id = 1 as is_identified_person,
        {{ idstitch.person_id_from("anchor.identifier_type", "anchor.identifier") }} as person_id
    from persons
    inner join {{ ref('int_idstitch__identifiers') }} as anchor on persons.anchor_key = anchor.identifier_key

),

final as (

    select
        identifiers.identifier_key,
        identifiers.identifier_type,
        identifiers.identifier,
        assigned.identity_status,
        assigned.anchor_status,
        assigned.n_user_groups,
        assigned.person_group,
        person_ids.person_id,
        coalesce(person_ids.is_identified_person, false) as is_identified_person,
        identifiers.first_seen_at,
        identifiers.last_seen_at,
        identifiers.first_received_at,
        identifiers.message_count
    from {{ ref('int_idstitch__identifiers') }} as identifiers
    {#- every identifier has one anchor row, and assigned carries its anchor status: no join back #}
    inner join assigned on identifiers.identifier_key = assigned.identifier_key
    left join person_ids on assigned.person_group = person_ids.person_group

)

select * from final
