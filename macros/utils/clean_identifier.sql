{% macro clean_identifier(value, type_column=none) -%}
    {{ return(adapter.dispatch('clean_identifier', 'idstitch')(value, type_column)) }}
{%- endmacro %}

{#-
    Normalise one identifier value: cast to text, trim spaces (idstitch.trim_spaces: U+0020 only, on
    every engine), lower-case when its type is listed in var idstitch__lowercase_identifier_types
    (e-mails), and turn junk into null: blank, only zeros and
    dashes (the nil UUID, '0', '--'), or a listed junk value (seed + var), case-insensitively.
    Applied once per distinct value (int_idstitch__identifier_values), never per message.
-#}
{% macro default__clean_identifier(value, type_column=none) -%}
    {%- set trimmed = idstitch.trim_spaces('cast(' ~ value ~ ' as ' ~ dbt.type_string() ~ ')') -%}
    {%- set junk = idstitch.junk_values() -%}
    {%- set lowercase_types = var('idstitch__lowercase_identifier_types') -%}
    case
        when {{ trimmed }} = '' then null
        when replace(replace({{ trimmed }}, '0', ''), '-', '') = '' then null
        {%- if junk | length > 0 %}
        when lower({{ trimmed }}) in (
            {%- for junk_value in junk %}{{ idstitch.string_literal(junk_value) }}{{ ', ' if not loop.last }}{% endfor -%}
        ) then null
        {%- endif %}
        {%- if type_column is not none and lowercase_types | length > 0 %}
        when {{ type_column }} in (
            {%- for lowercase_type in lowercase_types %}{{ idstitch.string_literal(lowercase_type) }}{{ ', ' if not loop.last }}{% endfor -%}
        ) then lower({{ trimmed }})
        {%- endif %}
        else {{ trimmed }}
    end
{%- endmacro %}
