{{ config(
    alias='person_changes',
    materialized='incremental',
    full_refresh=false,
    on_schema_change='fail',
    pre_hook=[
        "{{ idstitch.drop_unfinished_changes() }}",
        "{{ idstitch.forget_personal_history([('cause_identifier_type_a', 'cause_identifier_a'),
                                              ('cause_identifier_type_b', 'cause_identifier_b')]) }}",
    ],
) }}

{#-
    The change log: what each run did to persons, so BI users can remap stored person ids. One row
    per run and (previous_person_id → person_id) transition:
      birth       a new person (every identifier of it is new)
      merge       previous_person_id's identifiers joined person_id, an older person; the
                  previous id is gone
      split       part of previous_person_id (which still exists) now belongs to person_id
      reanchor    previous_person_id is gone and its identifiers form person_id, a person that
                  did not exist before (its anchor changed, e.g. an earlier receipt arrived late)
      quarantine  identifiers of previous_person_id now belong to no person (a hub, an e-mail of
                  several accounts, or a value added to the junk list)
    cause_*: for merges, the newest accepted link joining the two persons; for splits and
    quarantines, the newest refused link touching the identifiers that moved (null when the cause
    is not a link, e.g. a junk-list change). Kept across --full-refresh (full_refresh=false).

    A run logs every move since the last complete run: when a run was killed after it logged its
    changes but before it completed, the next run deletes those rows (pre-hook) and logs the moves
    of both runs once, as one run — the log reads as if the killed run had never started.
-#}
{%- set since_last_complete = idstitch.changed_since_complete_run() %}

with identifier_persons as (

    select * from {{ ref('int_idstitch__identifier_persons') }}

),

moved as (

    select *
    from identifier_persons
    where {{ since_last_complete }}
        and coalesce(previous_person_id, '') <> coalesce(person_id, '')

),

persons_before as (

    select previous_person_id as person_id
    from identifier_persons
    where {{ since_last_complete }} and previous_person_id is not null
    union
    select person_id from identifier_persons
    where not {{ since_last_complete }} and person_id is not null

),

persons_after as (

    select distinct person_id from identifier_persons where person_id is not null

),

moved_pairs as (

    select
        previous_person_id,
        person_id,
        count(*) as n_identifiers
    from moved
    group by previous_person_id, person_id

),

transitions as (

    {#- joins rather than IN subqueries inside the case: Spark 3.5 fails to plan those over an aggregate -#}
    select
        moved_pairs.previous_person_id,
        moved_pairs.person_id,
        moved_pairs.n_identifiers,
        case
            when moved_pairs.person_id is null then 'quarantine'
            when moved_pairs.previous_person_id is null then 'birth'
            when previous_still_there.person_id is not null then 'split'
            when existed_before.person_id is not null then 'merge'
            else 'reanchor'
        end as change_kind,
        existed_before.person_id is not null as is_existing_person
    from moved_pairs
    left join persons_after as previous_still_there
        on moved_pairs.previous_person_id = previous_still_there.person_id
    left join persons_before as existed_before on moved_pairs.person_id = existed_before.person_id

),

logged as (

    {#- joining an existing person with a brand-new identifier is growth, not a change of person -#}
    select previous_person_id, person_id, n_identifiers, change_kind
    from transitions
    where not (change_kind = 'birth' and is_existing_person)

),

directed_links as (

    {#- each link in both directions, so "the end that moved" is always end a -#}
    {%- for near, far in [('a', 'b'), ('b', 'a')] %}
    select
        link_kind,
        source_table,
        first_message_id,
        first_received_at,
        identifier_type_{{ near }} as identifier_type_a,
        identifier_{{ near }} as identifier_a,
        identifier_type_{{ far }} as identifier_type_b,
        identifier_{{ far }} as identifier_b
    from {{ ref('int_idstitch__links') }}
    {{ 'union all' if loop.first }}
    {%- endfor %}

),

link_ends as (

    select
        directed_links.*,
        end_a.previous_person_id as previous_person_id_a,
        end_a.person_id as person_id_a,
        end_b.previous_person_id as previous_person_id_b,
        end_b.person_id as person_id_b
    from directed_links
    inner join moved as end_a
        on directed_links.identifier_type_a = end_a.identifier_type
        and directed_links.identifier_a = end_a.identifier
    inner join identifier_persons as end_b
        on directed_links.identifier_type_b = end_b.identifier_type
        and directed_links.identifier_b = end_b.identifier

),

causes as (

    {#- link_ends: the "a" end moved in this run; the link's newest receipt is the likely cause -#}
    select
        logged.previous_person_id,
        logged.person_id,
        link_ends.link_kind,
        link_ends.source_table,
        link_ends.first_message_id,
        link_ends.identifier_type_a,
        link_ends.identifier_a,
        link_ends.identifier_type_b,
        link_ends.identifier_b,
        row_number() over (
            partition by logged.previous_person_id, logged.person_id
            order by
                link_ends.first_received_at desc,
                {{ idstitch.bytewise('link_ends.first_message_id') }} desc,
                {{ idstitch.bytewise('link_ends.identifier_a') }},
                {{ idstitch.bytewise('link_ends.identifier_b') }}
        ) as cause_rank
    from logged
    inner join link_ends
        on logged.previous_person_id = link_ends.previous_person_id_a
        and (
            (
                logged.change_kind = 'merge'
                and link_ends.person_id_a = logged.person_id
                and link_ends.person_id_b = logged.person_id
                and coalesce(link_ends.previous_person_id_b, '') <> logged.previous_person_id
            )
            or (
                logged.change_kind in ('split', 'quarantine')
                and coalesce(link_ends.person_id_a, '') <> coalesce(link_ends.person_id_b, '')
            )
        )
    where logged.change_kind in ('merge', 'split', 'quarantine')

),

final as (

    select
        {{ idstitch.run_stamp() }} as run_started_at,
        '{{ invocation_id }}' as invocation_id,
        logged.change_kind,
        logged.previous_person_id,
        logged.person_id,
        logged.n_identifiers,
        causes.link_kind as cause_link_kind,
        causes.source_table as cause_source_table,
        causes.first_message_id as cause_message_id,
        causes.identifier_type_a as cause_identifier_type_a,
        causes.identifier_a as cause_identifier_a,
        causes.identifier_type_b as cause_identifier_type_b,
        causes.identifier_b as cause_identifier_b
    from logged
    left join causes
        on coalesce(logged.previous_person_id, '') = coalesce(causes.previous_person_id, '')
        and coalesce(logged.person_id, '') = coalesce(causes.person_id, '')
        and causes.cause_rank = 1

)

select * from final
