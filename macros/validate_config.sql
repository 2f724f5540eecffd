{% macro validate_config() -%}
    {#- on-run-start: refuse impossible settings before any table is touched. -#}
    {%- set problems = [] -%}
    {%- for name in ['idstitch__max_links_per_identifier', 'idstitch__session_gap_minutes', 'idstitch__lookback_hours',
                     'idstitch__closure_max_rounds', 'idstitch__closure_max_jumps',
                     'idstitch__run_lock_timeout_minutes'] -%}
        {%- set value = var(name) -%}
        {%- if value is not number or value is boolean or value < 1 or value != value | int -%}
            {%- do problems.append(name ~ ' must be a whole number ≥ 1, got ' ~ value) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name in ['idstitch__pages_enabled', 'idstitch__aliases_enabled'] -%}
        {%- if var(name) is not boolean -%}
            {%- do problems.append(name ~ ' must be true or false, got ' ~ var(name)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name in ['idstitch__traits', 'idstitch__identifier_traits', 'idstitch__extra_junk_identifiers',
                     'idstitch__lowercase_identifier_types'] -%}
        {%- if var(name) is string or var(name) is mapping or var(name) is not iterable -%}
            {%- do problems.append(name ~ ' must be a list, got ' ~ var(name)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if var('idstitch__shared_device_unidentified') not in ['session', 'device'] -%}
        {%- do problems.append('idstitch__shared_device_unidentified must be session or device, got '
                               ~ var('idstitch__shared_device_unidentified')) -%}
    {%- endif -%}
    {%- set column_name = modules.re.compile('^[a-z_][a-z0-9_]{0,62}$') -%}
    {%- for name in ['idstitch__traits', 'idstitch__identifier_traits'] -%}
        {%- for trait in var(name) if trait is not string or not column_name.match(trait) -%}
            {%- do problems.append(name ~ ': ' ~ trait ~ ' is not a plain lower-case column name') -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for trait in var('idstitch__identifier_traits') -%}
        {%- if trait in ['user_id', 'anonymous_id', 'message'] -%}
            {%- do problems.append('idstitch__identifier_traits: ' ~ trait ~ ' is reserved') -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set table_name = modules.re.compile('^[A-Za-z_][A-Za-z0-9_$]{0,126}$') -%}
    {%- for name in ['idstitch__source_schema', 'idstitch__tracks_table', 'idstitch__pages_table',
                     'idstitch__identifies_table', 'idstitch__aliases_table'] -%}
        {%- if var(name) is not string or not table_name.match(var(name)) -%}
            {%- do problems.append(name ~ ' must be a plain identifier (letters, digits, _), got ' ~ var(name)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if problems -%}
        {{ exceptions.raise_compiler_error('idstitch: invalid configuration:\n  - ' ~ problems | join('\n  - ')) }}
    {%- endif -%}
    select 1
{%- endmacro %}
