{{ config(
    alias='fct_pages',
    enabled=idstitch.table_enabled('pages'),
    materialized=idstitch.incremental_materialization(),
    unique_key='message_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

{{ idstitch.attribute_messages('pages') }}
