{%- set recompute = not idstitch.is_incremental_run() or idstitch.recompute_id_tuples() -%}
{{ config(
    materialized=idstitch.incremental_materialization(),
    unique_key='tuple_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ idstitch.clear_if_recomputed() }}",
) }}

{#-
    Every distinct combination of ids that messages carried, per source: (anonymous id, user id,
    alias previous id, identifier traits) with how many messages carried it, when, and — for a tuple
    that links ids — the first of them. 4.5 M messages collapse to a few hundred thousand tuples in
    one pass over the narrow message index (int_idstitch__messages); identifiers and links are then
    derived from this small table instead of from every message. Raw values: cleaning happens per
    distinct value in int_idstitch__identifier_values.

    Incremental: the messages new since the last complete run are aggregated the same way and added
    to the stored tuples they share a key with (counts add, first/last widen, first message by
    first_by — all associative, so the result is what a full build gives). When an earlier receipt
    replaced a stored winner, or the tuples were written by an unfinished (killed) run since, they
    are recomputed from the index instead (idstitch.recompute_id_tuples). Rows carry the run that
    wrote them (changed_in_run_at).
-#}
{%- set identifier_traits = var('idstitch__identifier_traits') -%}
{%- set key_columns = ['source_table', 'anonymous_id', 'user_id', 'previous_id'] + identifier_traits -%}
{%- set links_ids = idstitch.carries_linking_ids() -%}

{#- one aggregation over the narrow index: columns a source does not have are null there -#}
with aggregated as (

    select
        source_table,
        case source_table
            {%- for message_source, kind in [('identifies', 'identify'), ('aliases', 'alias')] %}
            when '{{ message_source }}' then '{{ kind }}'
            {%- endfor %}
            else 'event'
        end as link_kind,
        {%- for column in ['anonymous_id', 'user_id', 'previous_id'] + identifier_traits %}
        {{ column }},
        {%- endfor %}
        {#- the first message is the provenance of the tuple's links, so only a tuple of two or more
            ids (the only kind that links anything) needs one: most messages carry a lone anonymous id,
            and first_by's sort key is the costliest part of this aggregation (null timestamps skip it) -#}
        {{ idstitch.first_by('case when ' ~ links_ids ~ ' then message_id end',
                             'case when ' ~ links_ids ~ ' then event_at end') }} as first_message_id,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        min(received_at) as first_received_at,
        count(*) as message_count
    from {{ ref('int_idstitch__messages') }}
    where
        source_table in ({{ "'" ~ idstitch.message_sources() | join("', '") ~ "'" }})
        {%- if not recompute %}
        and {{ idstitch.changed_since_complete_run() }}
        and change_kind = 'new'
        {%- endif %}
    group by {{ key_columns | join(', ') }}

),

keyed as (

    select
        {{ idstitch.tuple_key(key_columns) }} as tuple_key,
        *
    from aggregated

),
{%- if recompute %}

final as (

    select * from keyed

)
{%- else %}

combined as (

    select * from keyed
    union all
    select {{ (['tuple_key', 'source_table', 'link_kind', 'anonymous_id', 'user_id', 'previous_id'] + identifier_traits
               + ['first_message_id', 'first_seen_at', 'last_seen_at', 'first_received_at', 'message_count'])
              | join(', ') }}
    from {{ this }}
    where tuple_key in (select tuple_key from keyed)

),

final as (

    select
        tuple_key,
        {%- for column in ['source_table', 'link_kind', 'anonymous_id', 'user_id', 'previous_id'] + identifier_traits %}
        min({{ column }}) as {{ column }},
        {%- endfor %}
        {{ idstitch.first_by('first_message_id', 'first_seen_at') }} as first_message_id,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        min(first_received_at) as first_received_at,
        sum(message_count) as message_count
    from combined
    group by tuple_key

)
{%- endif %}

select
    *,
    {{ idstitch.run_stamp() }} as changed_in_run_at
from final
