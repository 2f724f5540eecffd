{{ config(alias='closure_runs', materialized='incremental', unique_key=['invocation_id', 'closure_name']) }}

{#- One row per closure execution: appended by every run, kept across runs. -#}

with user_groups_log as (

    -- depends_on: {{ ref('int_idstitch__user_groups') }}
    select * from {{ idstitch.closure_log_relation(ref('int_idstitch__user_groups')) }}

),

anonymous_groups_log as (

    -- depends_on: {{ ref('int_idstitch__anonymous_groups') }}
    select * from {{ idstitch.closure_log_relation(ref('int_idstitch__anonymous_groups')) }}

),

final as (

    select * from user_groups_log
    union all
    select * from anonymous_groups_log

)

select * from final
{% if is_incremental() %}
where invocation_id not in (select invocation_id from {{ this }})
{% endif %}
