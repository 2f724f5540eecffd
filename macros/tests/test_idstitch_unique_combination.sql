{% test idstitch_unique_combination(model, columns) -%}
    {#- The grain test for multi-column keys (no dbt_utils: the package hub is out of reach). -#}
    select {{ columns | join(', ') }}, count(*) as n_rows
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{%- endtest %}
