{{ config(alias='idstitch_violations') }}

{#-
    The merge invariants, checked against the published tables and the raw sources rather than
    re-reading the logic that produced them. One row per violation; the test on this model
    requires it to be empty.
      event_not_exactly_once   a source message id missing from its fact table, or doubled
      unaliased_user_ids       a person with k user ids but fewer than k-1 accepted aliases among them
      junk_identifier          a junk value present as an identifier in the graph
      link_across_persons      an accepted link whose ends belong to different persons
-#}
{%- set event_sources = idstitch.event_sources() -%}
{%- set junk = idstitch.junk_values() -%}

with person_identifiers as (

    select * from {{ ref('idstitch__person_identifiers') }}

),

links as (

    select * from {{ ref('idstitch__identity_links') }}

),

{%- for event_source in event_sources %}

{{ event_source }}_coverage as (

    select
        'event_not_exactly_once' as violation,
        '{{ event_source }}' as subject_type,
        coalesce(source_ids.message_id, fact_ids.message_id) as subject,
        coalesce(fact_ids.n_rows, 0) as observed
    from (
        select distinct cast(id as {{ dbt.type_string() }}) as message_id
        from {{ source('idstitch_segment', event_source) }}
        where id is not null
    ) as source_ids
    full outer join (
        select message_id, count(*) as n_rows
        from {{ ref('idstitch__fct_' ~ event_source) }}
        group by message_id
    ) as fact_ids on source_ids.message_id = fact_ids.message_id
    where source_ids.message_id is null or fact_ids.message_id is null or fact_ids.n_rows <> 1

),
{%- endfor %}

user_ids_per_person as (

    select person_id, count(*) as n_user_ids
    from person_identifiers
    where identifier_type = 'user_id'
    group by person_id

),

aliases_per_person as (

    select person_id_a as person_id, count(*) as n_aliases
    from links
    where
        is_accepted
        and link_kind = 'alias'
        and identifier_type_a = 'user_id'
        and identifier_type_b = 'user_id'
    group by person_id_a

),

unaliased_user_ids as (

    select
        'unaliased_user_ids' as violation,
        'person' as subject_type,
        user_ids_per_person.person_id as subject,
        user_ids_per_person.n_user_ids as observed
    from user_ids_per_person
    left join aliases_per_person on user_ids_per_person.person_id = aliases_per_person.person_id
    where user_ids_per_person.n_user_ids - 1 > coalesce(aliases_per_person.n_aliases, 0)

),

graph_identifiers as (

    select identifier_type, identifier from person_identifiers
    union
    select identifier_type_a, identifier_a from links
    union
    select identifier_type_b, identifier_b from links

),

junk_identifiers as (

    select
        'junk_identifier' as violation,
        identifier_type as subject_type,
        identifier as subject,
        1 as observed
    from graph_identifiers
    where
        identifier is null
        or {{ idstitch.trim_spaces('identifier') }} = ''
        or replace(replace({{ idstitch.trim_spaces('identifier') }}, '0', ''), '-', '') = ''
        {%- if junk %}
        or lower({{ idstitch.trim_spaces('identifier') }}) in (
            {%- for value in junk %}{{ idstitch.string_literal(value) }}{{ ', ' if not loop.last }}{% endfor -%}
        )
        {%- endif %}

),

links_across_persons as (

    select
        'link_across_persons' as violation,
        'link' as subject_type,
        {{ dbt.concat(['identifier_type_a', "':'", 'identifier_a', "' - '", 'identifier_type_b', "':'", 'identifier_b']) }}
            as subject,
        message_count as observed
    from links
    where is_accepted and (person_id_a <> person_id_b or person_id_a is null or person_id_b is null)

),

final as (

    {%- for event_source in event_sources %}
    select * from {{ event_source }}_coverage
    union all
    {%- endfor %}
    select * from unaliased_user_ids
    union all
    select * from junk_identifiers
    union all
    select * from links_across_persons

)

select * from final
