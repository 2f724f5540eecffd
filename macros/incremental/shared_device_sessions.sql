{% macro shared_devices_to_recompute() -%}
    {#-
        The shared devices (clean anonymous ids) whose sessions an incremental run recomputes:
        a device whose own value changed person or status, a device with a message written to the
        index, a device where a user id seen on it changed person — since the last complete run
        (this run's changes and those of a run killed before it consumed them) — or every shared
        device when the session settings differ from those the stored rows were cut with.
    -#}
    {%- set value_persons = ref('int_idstitch__value_persons') -%}
    {%- set changed = idstitch.changed_since_complete_run() -%}
    select identifier
    from {{ value_persons }}
    where value_type = 'anonymous_id' and identifier is not null and {{ changed }}

    union

    select device_values.identifier
    from {{ ref('int_idstitch__messages') }} as messages
    inner join {{ value_persons }} as device_values
        on device_values.value_type = 'anonymous_id' and messages.anonymous_id = device_values.raw_value
    where {{ idstitch.changed_since_complete_run('messages.changed_in_run_at') }} and device_values.identifier is not null

    union

    select anonymous_id
    from {{ this }}
    where raw_user_id in (
        select raw_value from {{ value_persons }}
        where value_type = 'user_id' and {{ changed }}
    )

    union

    select identifier
    from {{ value_persons }}
    where
        value_type = 'anonymous_id'
        and identity_status = 'shared_device'
        and exists (
            select 1 from {{ this }}
            where
                session_gap_minutes <> {{ var('idstitch__session_gap_minutes') | int }}
                or unidentified_sessions <> '{{ var('idstitch__shared_device_unidentified') }}'
        )
{%- endmacro %}


{% macro drop_replaced_device_sessions() -%}
    {#- post-hook: after this run appended the recomputed devices' rows, delete their older rows and
        every row of a device that is no longer shared. -#}
    {%- if idstitch.is_incremental_run() -%}
        {#- `not exists`, not `not in`: inside an `or`, Spark plans a `not in` subquery as a nested-loop
            join (null-aware: every stored row against every shared device; 97 s against 13 s for the
            whole model in a full build at 400k persons), an equi-correlated `not exists` as a hash
            join. The same rows: the stored anonymous_id is never null, the subquery's never either. -#}
        {%- set stored = this.identifier -%}
        {%- set replaced -%}
            {{ stored }}.changed_in_run_at <> {{ idstitch.run_stamp() }}
            and (
                {{ stored }}.anonymous_id in (
                    select anonymous_id from {{ this }} where changed_in_run_at = {{ idstitch.run_stamp() }}
                )
                or not exists (
                    select 1 from {{ ref('int_idstitch__value_persons') }} as shared_values
                    where shared_values.value_type = 'anonymous_id'
                        and shared_values.identity_status = 'shared_device'
                        and shared_values.identifier = {{ stored }}.anonymous_id
                )
            )
        {%- endset -%}
        {{ idstitch.delete_rows(this, replaced) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
