{{ config(
    materialized=idstitch.incremental_materialization(),
    unique_key=['identifier_type', 'identifier'],
    incremental_strategy='delete+insert',
    full_refresh=false,
    pre_hook="{{ idstitch.forget_personal_history([('identifier_type', none)]) }}",
) }}

{#-
    The identifier → person map as of the last run, and what each run changed in it: rows whose
    person or status changed are rewritten with previous_person_id (the person at the last
    complete run) and stamped with the run. idstitch__person_changes reads the rows stamped since
    the last complete run to log births, merges and splits.

    Kept across --full-refresh (full_refresh=false): a full rebuild is diffed against the map it
    replaces, so merges and splits caused by a config change are logged too. An identifier that
    left the graph (its value was added to the junk list) stays as 'removed' with no person.
-#}

with current_map as (

    select identifier_type, identifier, person_id, identity_status
    from {{ ref('int_idstitch__identity_map') }}

),

{%- if idstitch.is_incremental_run() %}

stored as (

    select
        identifier_type,
        identifier,
        person_id,
        identity_status,
        {#- the person before the changes not yet logged: a row an unfinished run rewrote keeps the
            person it had at the last complete run, so the change log still sees the whole move -#}
        case
            when {{ idstitch.changed_since_complete_run() }} then previous_person_id
            else person_id
        end as person_before
    from {{ this }}

),

changed as (

    select
        coalesce(current_map.identifier_type, stored.identifier_type) as identifier_type,
        coalesce(current_map.identifier, stored.identifier) as identifier,
        current_map.person_id,
        coalesce(current_map.identity_status, 'removed') as identity_status,
        stored.person_before as previous_person_id
    from current_map
    full outer join stored
        on current_map.identifier_type = stored.identifier_type
        and current_map.identifier = stored.identifier
    where
        stored.identifier is null
        or (current_map.identifier is null and stored.identity_status <> 'removed')
        or coalesce(current_map.person_id, '') <> coalesce(stored.person_id, '')
        or current_map.identity_status <> stored.identity_status

),
{%- else %}

changed as (

    select
        identifier_type,
        identifier,
        person_id,
        identity_status,
        cast(null as {{ dbt.type_string() }}) as previous_person_id
    from current_map

),
{%- endif %}

final as (

    select
        *,
        {{ idstitch.run_stamp() }} as changed_in_run_at
    from changed

)

select * from final
