{% macro attribute_messages(source_table, identifier_traits=[]) -%}
    {#-
        A fact model: every staged message of `source_table` once, with the person it belongs to
        and how that was decided, in this order of precedence:
          user_id                a user id present on the message decides
          shared_device_session  a shared device, a person identified in the same session
          shared_device          a shared device, nobody identified in the session: a person of
                                 that session (or of the device, see var
                                 idstitch__shared_device_unidentified)
          device                 an anonymous id that belongs to an identified person
          anonymous              an anonymous id of a person nobody identified (yet)
          <trait>                (identifies) an identifier trait's person, e.g. email
          unattributable         every id was junk or quarantined: a person of its own
        Id columns are published clean (trimmed, e-mails lower-cased, junk → null) from the
        value map; every other source column passes through as it is.
    -#}
    {%- set id_columns = ['anonymous_id', 'user_id'] + identifier_traits -%}
    {%- set staged = ref('stg_idstitch__' ~ source_table) -%}
    {#- read only by the incremental path; referenced here so dbt sees the dependency at parse time -#}
    {%- do ref('int_idstitch__messages') -%}
    {%- set other_columns = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(staged) -%}
            {%- if column.name | lower not in id_columns + ['message_id'] -%}
                {%- do other_columns.append('messages.' ~ adapter.quote(column.name)) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}

{%- set changed_since_complete = idstitch.changed_since_complete_run() %}

with
{%- if idstitch.is_incremental_run() %}

{#-
    Incremental: (re)attribute only the messages that can have changed since the last complete
    run — new or re-received messages (the message index's stamp), messages carrying a raw id
    whose person changed (the value map's stamp), and messages on shared devices whose sessions
    were recut — and write only those whose person, method or published (clean) ids differ from
    the stored row. "Since the last complete run" and not "in this run": a run killed after the
    value map committed but before the facts leaves its changes for the next run to pick up.
#}

changed_messages as (

    select message_id
    from {{ ref('int_idstitch__messages') }}
    where source_table = '{{ source_table }}' and {{ changed_since_complete }}

),

messages as (

    select *
    from {{ staged }}
    where
        message_id in (select message_id from changed_messages)
        {%- for column in id_columns %}
        or {{ column }} in (
            select raw_value from {{ ref('int_idstitch__value_persons') }}
            where value_type = '{{ column }}' and {{ changed_since_complete }}
        )
        {%- endfor %}
        or message_id in (
            select message_id from {{ ref('int_idstitch__shared_device_sessions') }}
            where source_table = '{{ source_table }}' and {{ changed_since_complete }}
        )

),
{%- else %}

messages as (

    select * from {{ staged }}

),
{%- endif %}

value_persons as (

    select value_type, raw_value, identifier, identity_status, person_id, is_identified_person
    from {{ ref('int_idstitch__value_persons') }}

),

shared_device_sessions as (

    select message_id, person_id, identified_person_id
    from {{ ref('int_idstitch__shared_device_sessions') }}
    where source_table = '{{ source_table }}'

),

final as (

    select
        messages.message_id,
        coalesce(
            user_ids.person_id,
            shared_device_sessions.person_id,
            anonymous_ids.person_id,
            {%- for trait in identifier_traits %}
            trait_{{ trait }}.person_id,
            {%- endfor %}
            {{ idstitch.person_id_from("'message'", dbt.concat(["'" ~ source_table ~ ":'", "messages.message_id"])) }}
        ) as person_id,
        case
            when user_ids.person_id is not null then 'user_id'
            when shared_device_sessions.identified_person_id is not null then 'shared_device_session'
            when anonymous_ids.identity_status = 'shared_device' then 'shared_device'
            when anonymous_ids.is_identified_person then 'device'
            when anonymous_ids.person_id is not null then 'anonymous'
            {%- for trait in identifier_traits %}
            when trait_{{ trait }}.person_id is not null then '{{ trait }}'
            {%- endfor %}
            else 'unattributable'
        end as attribution_method,
        anonymous_ids.identifier as anonymous_id,
        user_ids.identifier as user_id
        {%- for trait in identifier_traits %},
        trait_{{ trait }}.identifier as {{ trait }}
        {%- endfor %}
        {%- for column in other_columns %},
        {{ column }}
        {%- endfor %}
    from messages
    left join value_persons as user_ids
        on user_ids.value_type = 'user_id' and messages.user_id = user_ids.raw_value
    left join shared_device_sessions on messages.message_id = shared_device_sessions.message_id
    left join value_persons as anonymous_ids
        on anonymous_ids.value_type = 'anonymous_id' and messages.anonymous_id = anonymous_ids.raw_value
    {%- for trait in identifier_traits %}
    left join value_persons as trait_{{ trait }}
        on trait_{{ trait }}.value_type = '{{ trait }}' and messages.{{ trait }} = trait_{{ trait }}.raw_value
    {%- endfor %}

)

{%- if idstitch.is_incremental_run() %}

select final.*
from final
left join (
    {#- only the stored rows of this run's candidates: hashing the whole table would cost more -#}
    select stored_rows.*
    from {{ this }} as stored_rows
    where exists (select 1 from messages where messages.message_id = stored_rows.message_id)
) as stored on final.message_id = stored.message_id
where
    stored.message_id is null
    or final.message_id in (select message_id from changed_messages)
    or final.person_id <> stored.person_id
    or final.attribution_method <> stored.attribution_method
    {%- for column in id_columns %}
    or final.{{ column }} is distinct from stored.{{ column }}
    {%- endfor %}
{%- else %}

select * from final
{%- endif %}
{%- endmacro %}
