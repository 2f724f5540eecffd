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
          email                  (identifies) an identifier trait's person
          unattributable         every id was junk or quarantined: a person of its own
    -#}

with messages as (

    select * from {{ ref('stg_idstitch__' ~ source_table) }}

),

identity_map as (

    select identifier_type, identifier, identity_status, person_id, is_identified_person
    from {{ ref('int_idstitch__identity_map') }}
    where person_id is not null

),

shared_device_sessions as (

    select message_id, person_id, identified_person_id
    from {{ ref('int_idstitch__shared_device_sessions') }}
    where source_table = '{{ source_table }}' and person_id is not null

),

final as (

    select
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
        messages.*
    from messages
    left join identity_map as user_ids
        on user_ids.identifier_type = 'user_id' and messages.user_id = user_ids.identifier
    left join shared_device_sessions on messages.message_id = shared_device_sessions.message_id
    left join identity_map as anonymous_ids
        on anonymous_ids.identifier_type = 'anonymous_id' and messages.anonymous_id = anonymous_ids.identifier
    {%- for trait in identifier_traits %}
    left join identity_map as trait_{{ trait }}
        on trait_{{ trait }}.identifier_type = '{{ trait }}' and messages.{{ trait }} = trait_{{ trait }}.identifier
    {%- endfor %}

)

select * from final
{%- endmacro %}
