{{ config(alias='fct_pages', enabled=var('idstitch__pages_enabled')) }}

{{ idstitch.attribute_messages('pages') }}
