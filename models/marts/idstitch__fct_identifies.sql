{{ config(alias='fct_identifies') }}

{{ idstitch.attribute_messages('identifies', var('idstitch__identifier_traits')) }}
