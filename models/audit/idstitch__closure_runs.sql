{{ config(
    alias='closure_runs',
    materialized='incremental',
    unique_key=['invocation_id', 'closure_name'],
    on_schema_change='append_new_columns',
    pre_hook="{{ idstitch.drop_unfinished_changes() }}",
) }}

{#-
    One row per closure execution: appended by every run, kept across runs. Besides the closure's
    own figures (rounds, links, identifiers), each row says how much new work the run brought:
    messages written to the message index (new or re-received) and identifiers whose person or
    status changed — since the last complete run. Rows of a run that was killed before it
    completed are replaced by the next run's (pre-hook), which redoes that run's work.
-#}
{%- set since_last_complete = idstitch.changed_since_complete_run() %}

with user_groups_log as (

    -- depends_on: {{ ref('int_idstitch__user_groups') }}
    select * from {{ idstitch.closure_log_relation(ref('int_idstitch__user_groups')) }}

),

anonymous_groups_log as (

    -- depends_on: {{ ref('int_idstitch__anonymous_groups') }}
    select * from {{ idstitch.closure_log_relation(ref('int_idstitch__anonymous_groups')) }}

),

run_work as (

    select
        (
            select count(*) from {{ ref('int_idstitch__messages') }}
            where {{ since_last_complete }}
        ) as messages_changed,
        (
            select count(*) from {{ ref('int_idstitch__identifier_persons') }}
            where {{ since_last_complete }}
        ) as identifiers_changed

),

final as (

    select logs.*, run_work.messages_changed, run_work.identifiers_changed
    from (
        select * from user_groups_log
        union all
        select * from anonymous_groups_log
    ) as logs
    cross join run_work

)

select * from final
{% if is_incremental() %}
where invocation_id not in (select invocation_id from {{ this }})
{% endif %}
