{{ config(
    alias='fct_identifies',
    materialized=idstitch.incremental_materialization(),
    unique_key='message_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

{{ idstitch.attribute_messages('identifies', var('idstitch__identifier_traits')) }}
