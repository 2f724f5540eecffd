{% macro id_hash(expression) -%}
    {{ return(adapter.dispatch('id_hash', 'idstitch')(expression)) }}
{%- endmacro %}

{#-
    A 64-bit hash of a text value, for pre-grouping where only equality matters and a collision
    merely costs a second look (replay detection). Engines without a native 64-bit hash use md5.
-#}
{% macro default__id_hash(expression) -%}
    md5({{ expression }})
{%- endmacro %}

{% macro postgres__id_hash(expression) -%}
    hashtextextended({{ expression }}, 0)
{%- endmacro %}

{% macro duckdb__id_hash(expression) -%}
    hash({{ expression }})
{%- endmacro %}

{% macro spark__id_hash(expression) -%}
    xxhash64({{ expression }})
{%- endmacro %}
