{% macro trim_spaces(value) -%}
    {{ return(adapter.dispatch('trim_spaces', 'idstitch')(value)) }}
{%- endmacro %}

{#-
    `value` without leading and trailing spaces (U+0020), and nothing else: tabs, newlines, no-break
    and zero-width spaces stay part of the value. Spelt out as the standard `trim(both ' ' from …)`
    because a bare trim() differs between engines: DuckDB's also strips Unicode space separators
    (no-break space, em space, …), Postgres' and Spark's only U+0020, so one raw id would clean to
    two different identifiers (or be junk on one engine only).
-#}
{% macro default__trim_spaces(value) -%}
    trim(both ' ' from {{ value }})
{%- endmacro %}
