{{ config(materialized=idstitch.staging_materialization('identifies')) }}

{#-
    Identifier traits (var idstitch__identifier_traits, default e-mail) are required and cast to
    text like ids; other traits (var idstitch__traits) pass through with the rest.
-#}
{%- set identifier_columns = ['anonymous_id', 'user_id'] + var('idstitch__identifier_traits') -%}
{%- set plain_traits = [] -%}
{%- for trait in var('idstitch__traits') if trait not in var('idstitch__identifier_traits') -%}
    {%- do plain_traits.append(trait) -%}
{%- endfor -%}

{{ idstitch.stage_messages('identifies', identifier_columns, plain_traits) }}
