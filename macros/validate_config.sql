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
                     'idstitch__lowercase_identifier_types', 'idstitch__personal_columns'] -%}
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
    {%- set database = var('idstitch__source_database') -%}
    {%- if database is not none and (database is not string or not table_name.match(database)) -%}
        {%- do problems.append('idstitch__source_database must be null or a plain identifier (letters, digits, _), got '
                               ~ database) -%}
    {%- endif -%}
    {#- every other value that reaches SQL is data, inlined as a quoted literal (idstitch.string_literal):
        junk values must be plain strings or numbers, lower-cased types must name an identifier type -#}
    {%- if var('idstitch__extra_junk_identifiers') is iterable and var('idstitch__extra_junk_identifiers') is not string -%}
        {%- for value in var('idstitch__extra_junk_identifiers')
                if value is boolean or value is none or (value is not string and value is not number) -%}
            {%- do problems.append('idstitch__extra_junk_identifiers: ' ~ value ~ ' is not a string or number') -%}
        {%- endfor -%}
    {%- endif -%}
    {#- an identifier type, or a trait that may become one (so dropping e-mail from the identifier
        traits does not also require editing this list) -#}
    {%- set identifier_types = ['user_id', 'anonymous_id'] -%}
    {%- for name in ['idstitch__identifier_traits', 'idstitch__traits'] -%}
        {%- if var(name) is iterable and var(name) is not string and var(name) is not mapping -%}
            {%- for trait in var(name) if trait not in identifier_types -%}{%- do identifier_types.append(trait) -%}{%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if var('idstitch__lowercase_identifier_types') is iterable and var('idstitch__lowercase_identifier_types') is not string -%}
        {%- for identifier_type in var('idstitch__lowercase_identifier_types') if identifier_type not in identifier_types -%}
            {%- do problems.append('idstitch__lowercase_identifier_types: ' ~ identifier_type
                                   ~ ' is not an identifier type (' ~ identifier_types | join(', ') ~ ')') -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if var('idstitch__personal_columns') is iterable and var('idstitch__personal_columns') is not string -%}
        {%- for column in var('idstitch__personal_columns') if column not in var('idstitch__traits') -%}
            {%- do problems.append('idstitch__personal_columns: ' ~ column ~ ' is not one of idstitch__traits ('
                                   ~ var('idstitch__traits') | join(', ') ~ ')') -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set roles = var('idstitch__reader_roles', []) -%}
    {%- set role_name = modules.re.compile('^[A-Za-z_][A-Za-z0-9_$]{0,62}$') -%}
    {%- if roles is string or roles is mapping or roles is not iterable -%}
        {%- do problems.append('idstitch__reader_roles must be a list of role names, got ' ~ roles) -%}
    {%- else -%}
        {#- role names reach GRANT statements unquoted -#}
        {%- for role in roles if role is not string or not role_name.match(role) -%}
            {%- do problems.append('idstitch__reader_roles: ' ~ role ~ ' is not a plain role name') -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if problems -%}
        {{ exceptions.raise_compiler_error('idstitch: invalid configuration:\n  - ' ~ problems | join('\n  - ')) }}
    {%- endif -%}
    select 1
{%- endmacro %}
