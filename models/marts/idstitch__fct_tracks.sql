{{ config(alias='fct_tracks') }}

{{ idstitch.attribute_messages('tracks') }}
