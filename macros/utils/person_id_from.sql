{% macro person_id_from(identifier_type, identifier) -%}
    {#-
        The published person id: md5 of '<type>:<value>' of the person's anchor identifier.
        Same input, same id, on every engine (md5 is in all of them; a text hex digest, no
        engine-specific integer hash whose bit patterns differ).
    -#}
    {{ dbt.hash(dbt.concat([identifier_type, "':'", identifier])) }}
{%- endmacro %}
