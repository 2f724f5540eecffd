{% test idstitch_is_empty(model) -%}
    {#- Validation as data: the model lists problems, one row each; the test passes when none. -#}
    select * from {{ model }}
{%- endtest %}
