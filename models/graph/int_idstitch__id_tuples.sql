{#-
    Every distinct combination of ids that messages carried, per source: (anonymous id, user id,
    alias previous id, identifier traits) with how many messages carried it, when, and the first of
    them. 4.5 M messages collapse to a few hundred thousand tuples in one pass over the narrow
    message index (int_idstitch__messages);
    identifiers and links are then derived from this small table instead of from every message.
    Raw values: cleaning happens per distinct value in int_idstitch__identifier_values.
-#}
{%- set identifier_traits = var('idstitch__identifier_traits') -%}
{%- set null_text = 'cast(null as ' ~ dbt.type_string() ~ ')' -%}

{#- one aggregation per source: smaller hash tables, and only the columns that source has in the key -#}
with
{%- for message_source in idstitch.message_sources() %}
{%- set id_columns = idstitch.message_id_columns(message_source) %}

{{ message_source }}_tuples as (

    select
        '{{ message_source }}' as source_table,
        '{{ {"identifies": "identify", "aliases": "alias"}.get(message_source, "event") }}' as link_kind,
        {%- for column in ['anonymous_id', 'user_id', 'previous_id'] + identifier_traits %}
        {{ column if column in id_columns else null_text }} as {{ column }},
        {%- endfor %}
        {{ idstitch.first_by('message_id', 'event_at') }} as first_message_id,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        min(received_at) as first_received_at,
        count(*) as message_count
    from {{ ref('int_idstitch__messages') }}
    where source_table = '{{ message_source }}'
    group by {{ id_columns | join(', ') }}

),
{%- endfor %}

final as (

    {%- for message_source in idstitch.message_sources() %}
    select * from {{ message_source }}_tuples
    {{ 'union all' if not loop.last }}
    {%- endfor %}

)

select * from final
