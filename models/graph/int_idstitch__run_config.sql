{#-
    The settings the stored tables were built with (idstitch.state_settings), one row each. Read
    by on-run-start (idstitch.check_stored_config) before this run rebuilds it. It depends on the
    published tables so that it is rebuilt last: when a run fails half-way, the old settings stay
    recorded and the next run still asks for the full refresh.
-#}
-- depends_on: {{ ref('idstitch__dim_person') }}
-- depends_on: {{ ref('idstitch__person_changes') }}
-- depends_on: {{ ref('idstitch__identity_refusals') }}
{%- set settings = idstitch.state_settings() -%}

{%- for name, value in settings.items() %}
select
    '{{ name }}' as setting,
    {{ idstitch.string_literal(value) }} as setting_value
{{ 'union all' if not loop.last }}
{%- endfor %}
