{% macro carries_linking_ids() -%}
    {#-
        True for a message (or id tuple) that carries two or more ids: the only kind that links
        identifiers (an anonymous id with a user id, an alias, an identify's e-mail). Columns a
        source does not have are null in the message index and the id tuples.
    -#}
    {%- set present = [] -%}
    {%- for column in ['anonymous_id', 'user_id', 'previous_id'] + var('idstitch__identifier_traits') -%}
        {%- do present.append('case when ' ~ column ~ ' is not null then 1 else 0 end') -%}
    {%- endfor -%}
    ({{ present | join(' + ') }}) >= 2
{%- endmacro %}
