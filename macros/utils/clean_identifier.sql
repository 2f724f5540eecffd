{% macro clean_identifier(column, lowercase=false) -%}
    {{ return(adapter.dispatch('clean_identifier', 'idstitch')(column, lowercase)) }}
{%- endmacro %}

{#-
    Normalise one identifier column: cast to text, trim (e-mails also lower-cased) and turn junk
    into null: blank, only zeros and dashes (the nil UUID, '0', '--'), or a listed junk value.
-#}
{% macro default__clean_identifier(column, lowercase=false) -%}
    {%- set trimmed = 'trim(cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ '))' -%}
    {%- set junk = idstitch.junk_values() -%}
    case
        when {{ trimmed }} = '' then null
        when replace(replace({{ trimmed }}, '0', ''), '-', '') = '' then null
        {%- if junk | length > 0 %}
        when lower({{ trimmed }}) in (
            {%- for value in junk %}{{ idstitch.string_literal(value) }}{{ ', ' if not loop.last }}{% endfor -%}
        ) then null
        {%- endif %}
        else {{ 'lower(' ~ trimmed ~ ')' if lowercase else trimmed }}
    end
{%- endmacro %}
