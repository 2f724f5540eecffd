{{ config(
    materialized=idstitch.incremental_materialization(),
    incremental_strategy='append',
    post_hook="{{ idstitch.drop_replaced_device_sessions() }}",
) }}

{#-
    Events on a shared device (an anonymous id seen with several persons, or a hub) go to the
    person who used the device at that time: the device's events are cut into sessions at
    inactivity gaps longer than var idstitch__session_gap_minutes; within a session an event goes
    to the person of the latest identified event before it, or, before the first one, to the
    first person identified in the session. Sessions with nobody identified stay with the
    device's own person (var idstitch__shared_device_unidentified = device: person_id null here,
    the fact falls back to the device's person) or become a person of their own
    (= session, the default: nobody identified means nobody can say two sessions were one person;
    docs/decisions/0004-shared-device-sessions.md).

    Incremental: only devices this run can have changed are recomputed (all their events) —
    devices with a new message, devices whose own person or status changed, devices where a user
    id seen on them changed person (idstitch.shared_devices_to_recompute). Their new rows are
    appended; the post-hook then deletes their older rows and the rows of devices that are no
    longer shared, in the same transaction. Rows carry the session settings they were cut with;
    a change of those settings recomputes every device.
-#}
{%- set per_session = var('idstitch__shared_device_unidentified') == 'session' -%}
{#- a device's events in time; a tie broken by source and message id, compared bytewise -#}
{%- set session_order = 'event_at, ' ~ idstitch.bytewise('source_table') ~ ', ' ~ idstitch.bytewise('message_id') -%}

with value_persons as (

    select value_type, raw_value, identifier, identity_status, person_id
    from {{ ref('int_idstitch__value_persons') }}
    where value_type in ('anonymous_id', 'user_id')

),

shared_devices as (

    select raw_value as anonymous_id, identifier
    from value_persons
    where
        value_type = 'anonymous_id'
        and identity_status = 'shared_device'
        {%- if idstitch.is_incremental_run() %}
        and identifier in ({{ idstitch.shared_devices_to_recompute() }})
        {%- endif %}

),

user_persons as (

    select raw_value as user_id, person_id
    from value_persons
    where value_type = 'user_id' and person_id is not null

),

device_events as (

    {#- a device's events: its raw spellings (padding, case) are one device, keyed by the clean id -#}
    select
        messages.source_table,
        messages.message_id,
        shared_devices.identifier as anonymous_id,
        messages.event_at,
        messages.user_id as raw_user_id,
        user_persons.person_id as identified_person_id
    from {{ ref('int_idstitch__messages') }} as messages
    inner join shared_devices on messages.anonymous_id = shared_devices.anonymous_id
    left join user_persons on messages.user_id = user_persons.user_id
    where messages.source_table in ({{ "'" ~ idstitch.event_sources() | join("', '") ~ "'" }})

),

with_previous as (

    select
        *,
        lag(event_at) over (
            partition by anonymous_id order by {{ session_order }}
        ) as previous_event_at
    from device_events

),

session_starts as (

    select
        *,
        case
            when previous_event_at is null or event_at is null then 1
            when {{ idstitch.timestamp_add('minute', var('idstitch__session_gap_minutes') | int, 'previous_event_at') }}
                < event_at then 1
            else 0
        end as is_session_start
    from with_previous

),

sessions as (

    select
        *,
        sum(is_session_start) over (
            partition by anonymous_id order by {{ session_order }}
            rows between unbounded preceding and current row
        ) as session_number
    from session_starts

),

identified_runs as (

    select
        *,
        sum(case when identified_person_id is not null then 1 else 0 end) over (
            partition by anonymous_id, session_number order by {{ session_order }}
            rows between unbounded preceding and current row
        ) as identified_run
    from sessions

),

run_persons as (

    select
        *,
        max(identified_person_id) over (
            partition by anonymous_id, session_number, identified_run
        ) as run_person_id,
        max(case when identified_run = 1 then identified_person_id end) over (
            partition by anonymous_id, session_number
        ) as first_session_person_id,
        first_value(message_id) over (
            partition by anonymous_id, session_number order by {{ session_order }}
            rows between unbounded preceding and unbounded following
        ) as session_first_message_id
    from identified_runs

),

final as (

    select
        source_table,
        message_id,
        anonymous_id,
        session_number,
        event_at,
        raw_user_id,
        case
            when identified_run > 0 then run_person_id
            else first_session_person_id
        end as identified_person_id,
        case
            when identified_run > 0 then run_person_id
            when first_session_person_id is not null then first_session_person_id
            {%- if per_session %}
            else {{ idstitch.person_id_from("'session'",
                     dbt.concat(['anonymous_id', "':'", 'session_first_message_id'])) }}
            {%- endif %}
        end as person_id,
        {{ var('idstitch__session_gap_minutes') | int }} as session_gap_minutes,
        '{{ var('idstitch__shared_device_unidentified') }}' as unidentified_sessions,
        {{ idstitch.run_stamp() }} as changed_in_run_at
    from run_persons

)

select * from final
