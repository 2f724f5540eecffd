{% test idstitch_first_message_of_linking_tuples(model) -%}
    {#- The id tuples: a first message on every tuple that links ids, and on no other
        (int_idstitch__id_tuples computes it only where links need it). -#}
    select *
    from {{ model }}
    where
        ({{ idstitch.carries_linking_ids() }} and first_message_id is null)
        or (not {{ idstitch.carries_linking_ids() }} and first_message_id is not null)
{%- endtest %}
