{% macro bytewise(expression) -%}
    {#-
        `expression` (text) compared byte by byte, where the package orders text to break a tie: the first
        or latest value at one time, the identifier that anchors a person, the message that names a
        session, the receipt of a replay that wins. Person ids depend on these, and must be the same on
        every engine whatever the database's collation.
    -#}
    {{ return(adapter.dispatch('bytewise', 'idstitch')(expression)) }}
{%- endmacro %}

{#- DuckDB and Spark compare strings by their bytes (unless a DuckDB session sets a default collation) -#}
{% macro default__bytewise(expression) -%}
    {{ expression }}
{%- endmacro %}

{#-
    Postgres compares text in the database's collation, which many servers create linguistic
    (en_US.UTF-8, ICU en-US: 'alpha' < 'Zeta', case and punctuation ignored at first). "C" is bytewise.
-#}
{% macro postgres__bytewise(expression) -%}
    ({{ expression }}) collate "C"
{%- endmacro %}
