{#-
    Identifier traits (var idstitch__identifier_traits, default e-mail) are cleaned like ids;
    other traits (var idstitch__traits) are kept as they are and pass through with the rest.
-#}
{%- set identifier_columns = {'anonymous_id': false, 'user_id': false} -%}
{%- for trait in var('idstitch__identifier_traits') -%}
    {%- do identifier_columns.update({trait: trait in var('idstitch__lowercase_identifier_types')}) -%}
{%- endfor -%}
{%- set plain_traits = [] -%}
{%- for trait in var('idstitch__traits') if trait not in var('idstitch__identifier_traits') -%}
    {%- do plain_traits.append(trait) -%}
{%- endfor -%}

{{ idstitch.stage_messages('identifies', identifier_columns, plain_traits) }}
