{{ config(
    materialized=idstitch.incremental_materialization(),
    unique_key=['source_table', 'message_id'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook="{{ idstitch.sorted_aggregation() if not idstitch.is_incremental_run() }}",
) }}

{#-
    The message index: one narrow row per message id and source table — the receipt that wins
    (idstitch.receipt_order: first received), its raw ids, event time and how many times the id
    was received. The graph is built from this table, never from the wide sources again, and it
    is what makes runs incremental:

    - full build: every source row; replays (ids received more than once) are found by one
      aggregation and only they are ranked.
    - incremental: the window is every source row received since the newest receipt already
      indexed minus var idstitch__lookback_hours (late loads), plus rows without received_at.
      All receipts of the ids in the window are ranked again, so a replay that arrives later but
      was received earlier still wins, exactly as in a full build. Only rows that differ from the
      stored ones are written, stamped with this run (changed_in_run_at) and marked new, receipt
      (only the receipt count changed) or replaced (an earlier receipt arrived late and now wins);
      a full build marks every row rebuilt. Downstream models pick up "what changed" from the
      stamp: every row stamped since the last complete run (idstitch.changed_since_complete_run),
      so a run killed after this model committed leaves nothing the next run would miss. A row
      rewritten before a complete run consumed it keeps its kind (a new message that is then
      re-received is still new to the id tuples). A re-run without new data writes nothing.

    receipts_conflict records a replay whose receipts disagree: different ids or event time under
    one message id (a client bug, a reused id). The first received still wins; the others' ids never
    reach the graph. Compared through one hash of those columns per receipt, min = max over the id.
-#}
{%- set identifier_traits = var('idstitch__identifier_traits') -%}
{%- set all_id_columns = ['anonymous_id', 'user_id', 'previous_id'] + identifier_traits -%}
{%- set content_columns = ['source_table', 'message_id'] + all_id_columns
                          + ['event_at', 'received_at', 'n_receipts', 'receipts_conflict'] -%}
{%- set lookback_hours = var('idstitch__lookback_hours') | int -%}

with
{%- if idstitch.is_incremental_run() %}

watermarks as (

    {#- one scan of the index for every source's window start; never later than this run's start:
        one row received "in the future" (a loader's clock, a bad back-fill) would otherwise move
        the window past every row still to come -#}
    select
        source_table,
        {{ idstitch.timestamp_add('hour', -lookback_hours, 'least(max(received_at), ' ~ idstitch.run_stamp() ~ ')') }}
            as window_start
    from {{ this }}
    group by source_table

),
{%- endif %}
{%- for message_source in idstitch.message_sources() %}
{%- set id_columns = idstitch.message_id_columns(message_source) %}
{%- set source_relation = source('idstitch_segment', message_source) %}
{#- fails naming the table and column when a required column is missing or mistyped -#}
{%- do idstitch.source_columns('idstitch_segment', message_source, ['id', 'timestamp', 'received_at'] + id_columns) %}
{%- set message_id = 'cast(source.id as ' ~ dbt.type_string() ~ ')' %}
{%- set received_at = 'cast(source.received_at as ' ~ dbt.type_timestamp() ~ ')' %}
{%- set event_at = 'cast(source.' ~ adapter.quote('timestamp') ~ ' as ' ~ dbt.type_timestamp() ~ ')' %}
{%- set cast_id_columns = [] %}
{%- for column in id_columns %}{%- do cast_id_columns.append('cast(source.' ~ column ~ ' as ' ~ dbt.type_string() ~ ')') %}{%- endfor %}
{%- set receipt_content = idstitch.injective_key(cast_id_columns + ['cast(' ~ event_at ~ ' as ' ~ dbt.type_string() ~ ')']) %}
{%- set narrow_columns %}
        '{{ message_source }}' as source_table,
        {{ message_id }} as message_id,
        {%- for column in all_id_columns %}
        {{ idstitch.source_value(message_source, column) if column in id_columns
           else 'cast(null as ' ~ dbt.type_string() ~ ')' }} as {{ column }},
        {%- endfor %}
        {{ event_at }} as event_at,
        {{ received_at }} as received_at
{%- endset %}
{%- if idstitch.is_incremental_run() %}
{%- set selected = message_id ~ ' in (select message_id from ' ~ message_source ~ '_selected)' %}
{%- else %}
{%- set selected = idstitch.id_hash(message_id) ~ ' in (select id_hash from ' ~ message_source ~ '_selected)' %}
{%- endif %}

{{ message_source }}_selected as (

    {%- if idstitch.is_incremental_run() %}
    {#- ids with a receipt in the look-back window -#}
    select distinct {{ message_id }} as message_id
    from {{ source_relation }} as source
    where
        source.id is not null
        and (
            source.received_at is null
            or {{ received_at }} >= coalesce(
                (select window_start from watermarks where source_table = '{{ message_source }}'),
                cast('1900-01-01' as {{ dbt.type_timestamp() }})
            )
        )
    {%- else %}
    {#-
        replays, the only ids that need ranking in a full build, found by a 64-bit hash of the id:
        the aggregation's keys stay small enough not to spill. A hash shared by two different ids
        only sends both to the ranking below, which partitions by the id itself.
    -#}
    select {{ idstitch.id_hash(message_id) }} as id_hash
    from {{ source_relation }} as source
    where source.id is not null
    group by {{ idstitch.id_hash(message_id) }}
    having count(*) > 1
    {%- endif %}

),

{{ message_source }}_ranked as (

    select
        {{ narrow_columns }},
        count(*) over (partition by {{ message_id }}) as n_receipts,
        min({{ receipt_content }}) over (partition by {{ message_id }})
            <> max({{ receipt_content }}) over (partition by {{ message_id }}) as receipts_conflict,
        row_number() over (
            partition by {{ message_id }}
            order by {{ idstitch.receipt_order(received_at, event_at, cast_id_columns) }}
        ) as receipt_rank
    from {{ source_relation }} as source
    where source.id is not null and {{ selected }}

),

{{ message_source }}_messages as (

    select {{ content_columns | join(', ') }}
    from {{ message_source }}_ranked
    where receipt_rank = 1
    {%- if not idstitch.is_incremental_run() %}

    union all

    select
        {{ narrow_columns }},
        1 as n_receipts,
        false as receipts_conflict
    from {{ source_relation }} as source
    where source.id is not null and not {{ selected }}
    {%- endif %}

),
{%- endfor %}

indexed as (

    {%- for message_source in idstitch.message_sources() %}
    select * from {{ message_source }}_messages
    {{ 'union all' if not loop.last }}
    {%- endfor %}

),

{%- if idstitch.is_incremental_run() %}

stored as (

    {#- the stored rows of the window's ids, in one scan of the index -#}
    select {{ content_columns | join(', ') }}, change_kind, changed_in_run_at
    from {{ this }} as stored_rows
    where exists (
        select 1
        from indexed
        where indexed.source_table = stored_rows.source_table and indexed.message_id = stored_rows.message_id
    )

),

changed as (

    {#- change_kind: new (first receipt), receipt (one more receipt, same winner), replaced (an
        earlier receipt arrived late and now wins) -#}
    select
        indexed.*,
        case
            when stored.message_id is null then 'new'
            {#- not consumed by a complete run yet: new, replaced or rebuilt still is -#}
            when {{ idstitch.changed_since_complete_run('stored.changed_in_run_at') }}
                and stored.change_kind <> 'receipt' then stored.change_kind
            {%- for column in all_id_columns + ['event_at', 'received_at'] %}
            when indexed.{{ column }} is distinct from stored.{{ column }} then 'replaced'
            {%- endfor %}
            else 'receipt'
        end as change_kind
    from indexed
    left join stored
        on indexed.source_table = stored.source_table
        and indexed.message_id = stored.message_id
    where
        stored.message_id is null
        {%- for column in all_id_columns + ['event_at', 'received_at', 'n_receipts', 'receipts_conflict'] %}
        or indexed.{{ column }} is distinct from stored.{{ column }}
        {%- endfor %}

),
{%- else %}

changed as (

    select *, 'rebuilt' as change_kind from indexed

),
{%- endif %}

final as (

    select
        *,
        {{ idstitch.run_stamp() }} as changed_in_run_at
    from changed

)

select * from final
