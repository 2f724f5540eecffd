{{ config(
    materialized=idstitch.incremental_materialization(),
    unique_key=['value_type', 'raw_value'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

{#-
    Raw id value → its clean identifier and person: what the facts and the shared-device sessions
    join on, so that no message is cleaned row by row. Every raw value seen is here: junk values
    with no identifier and no person, quarantined identifiers with a null person_id.

    Incremental: the whole map is recomputed (it is small: one row per distinct raw value) but
    only rows that differ from the stored map are written, stamped with this run; the facts
    re-attribute the messages carrying those values. Raw values never leave the map, so every
    change reaches the facts this way — a new person, a merge, a value that became junk after the
    junk list grew, a device that turned shared.
-#}

with final as (

    {#- joined on the clean identifier (type and value) directly: one join instead of raw value → key
        (int_idstitch__value_keys) → person; junk values have no identifier and find no person -#}
    select
        identifier_values.value_type,
        identifier_values.raw_value,
        identifier_values.identifier,
        identity_map.identity_status,
        identity_map.person_id,
        identity_map.is_identified_person
    from {{ ref('int_idstitch__identifier_values') }} as identifier_values
    left join {{ ref('int_idstitch__identity_map') }} as identity_map
        on identifier_values.identifier_type = identity_map.identifier_type
        and identifier_values.identifier = identity_map.identifier
    where identifier_values.value_type <> 'previous_id'

),

changed as (

    select * from final
    {%- if idstitch.is_incremental_run() %}
    except
    select value_type, raw_value, identifier, identity_status, person_id, is_identified_person
    from {{ this }}
    {%- endif %}

)

select
    *,
    {{ idstitch.run_stamp() }} as changed_in_run_at
from changed
