{% macro string_literal(value) -%}
    {{ return(adapter.dispatch('string_literal', 'idstitch')(value)) }}
{%- endmacro %}

{% macro default__string_literal(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{#- Spark SQL treats a backslash in a literal as an escape: double it as well. -#}
{% macro spark__string_literal(value) -%}
    '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}
