{{ config(alias='fct_pages', enabled=idstitch.table_enabled('pages')) }}

{{ idstitch.attribute_messages('pages') }}
