{#-
    Personal data kept only as keyed hashes (var idstitch__personal_columns, e.g. [email, name]).

    The identify columns listed there are replaced by a keyed hash where the source is first read
    (the message index and the staging views), so the raw value never reaches a table idstitch
    writes: identifiers, links, facts, dim_person and the change log all carry the hash, and
    stitching works on it unchanged (equal values give equal hashes). Identifier traits are
    cleaned first (trimmed, lower-cased as configured, junk → null), so ' Ann@X.com' and
    'ann@x.com' still meet.

    The key comes from the environment, never from the SQL text: dbt writes compiled SQL to
    target/ and its logs, so a key inlined there would let anyone with the logs hash guesses.
      - Postgres: the custom setting idstitch.hash_key, set by libpq from the environment
        (PGOPTIONS='-c idstitch.hash_key=…'; `idstitch run` sets it from IDSTITCH_HASH_KEY).
      - DuckDB: the variable idstitch_hash_key, set from IDSTITCH_HASH_KEY by the profile plugin
        idstitch.duckdb_plugin.
      - Spark: the session conf idstitch.hash_key (the profile's server_side_parameters), which
        Spark's parser substitutes for `${idstitch.hash_key}` after dbt has logged the statement.
    docs/decisions/0009-personal-data.md has the why.
-#}

{% macro personal_columns() -%}
    {{ return(var('idstitch__personal_columns')) }}
{%- endmacro %}


{% macro hash_key() -%}
    {{ return(adapter.dispatch('hash_key', 'idstitch')()) }}
{%- endmacro %}

{% macro default__hash_key() -%}
    {{ exceptions.raise_compiler_error(
        'idstitch: idstitch__personal_columns is not supported on ' ~ target.type
        ~ ' yet: no way to pass the hash key without writing it into the SQL') }}
{%- endmacro %}

{% macro postgres__hash_key() -%}
    current_setting('idstitch.hash_key', true)
{%- endmacro %}

{% macro duckdb__hash_key() -%}
    getvariable('idstitch_hash_key')
{%- endmacro %}

{#-
    Spark 3.5 has no function that reads a setting (session variables come with 4.0), but its parser
    replaces `${name}` by the session conf `name` (spark.sql.variable.substitute, on by default) when it
    receives the statement: dbt's SQL text, target/ and dbt's logs hold the reference, never the key.
    What Spark does with the statement afterwards holds the key as a literal: its query plans (explain,
    the Spark UI, event logs), the text of a view (so no view hashes on Spark: see
    staging_materialization) and the plan an analysis error prints (dbt scrubs it from its logs when the
    profile reads the key from DBT_ENV_SECRET_IDSTITCH_HASH_KEY). check_hash_key makes sure the
    substitution happens and the key survives it unchanged.
-#}
{% macro spark__hash_key() -%}
    '${idstitch.hash_key}'
{%- endmacro %}


{% macro sha256_hex(expression) -%}
    {{ return(adapter.dispatch('sha256_hex', 'idstitch')(expression)) }}
{%- endmacro %}

{#- lower-case hex of SHA-256 over the UTF-8 bytes: the same digits on every engine -#}
{% macro default__sha256_hex(expression) -%}
    sha2({{ expression }}, 256)
{%- endmacro %}

{% macro postgres__sha256_hex(expression) -%}
    encode(sha256(convert_to({{ expression }}, 'UTF8')), 'hex')
{%- endmacro %}

{% macro duckdb__sha256_hex(expression) -%}
    sha256({{ expression }})
{%- endmacro %}


{% macro keyed_hash(expression) -%}
    {#-
        sha256(key ‖ ':' ‖ sha256(key ‖ ':' ‖ value)), hex: the nested form keeps SHA-256's
        length extension out (like HMAC, which needs byte-wise XOR the engines do not share).
        Null stays null.
    -#}
    {%- set key = idstitch.hash_key() -%}
    {{ idstitch.sha256_hex(dbt.concat([key, "':'", idstitch.sha256_hex(dbt.concat([key, "':'", expression]))])) }}
{%- endmacro %}


{% macro source_value(table_name, column, cast_to_string=true) -%}
    {#- A source column as the package stores it: as read, or keyed-hashed when personal. -#}
    {%- set raw = 'cast(source.' ~ column ~ ' as ' ~ dbt.type_string() ~ ')' if cast_to_string
                  else 'source.' ~ column -%}
    {%- if table_name != 'identifies' or column not in idstitch.personal_columns() -%}
        {{ return(raw) }}
    {%- endif -%}
    {%- if column in var('idstitch__identifier_traits') -%}
        {%- set cleaned = idstitch.clean_identifier(raw, "'" ~ column ~ "'") -%}
    {%- else -%}
        {%- set cleaned = "nullif(trim(cast(" ~ raw ~ " as " ~ dbt.type_string() ~ ")), '')" -%}
    {%- endif -%}
    {{ return(idstitch.keyed_hash(cleaned)) }}
{%- endmacro %}


{% macro staging_materialization(table_name) -%}
    {#- The materialization of a staging model, chosen at parse time: a view, except where a view
        would store the hash key (spark__ below). -#}
    {{ return(adapter.dispatch('staging_materialization', 'idstitch')(table_name)) }}
{%- endmacro %}

{% macro default__staging_materialization(table_name) -%}
    {{ return('view') }}
{%- endmacro %}

{#- Spark stores a view's text after substitution, so a view that hashes would keep the key in the
    catalog for anyone to read (`show create table`): such a staging model is a table there. -#}
{% macro spark__staging_materialization(table_name) -%}
    {%- set hashes = table_name == 'identifies' and idstitch.personal_columns() | length > 0 -%}
    {{ return('table' if hashes else 'view') }}
{%- endmacro %}


{% macro hash_key_fingerprint() -%}
    {#- a keyed hash of a constant: tells whether the key changed without storing the key -#}
    {%- if not execute or not idstitch.personal_columns() -%}{{ return(none) }}{%- endif -%}
    {{ return(run_query('select ' ~ idstitch.keyed_hash("'idstitch:key-fingerprint'")).columns[0].values()[0]) }}
{%- endmacro %}


{% macro check_hash_key() -%}
    {#- on-run-start: personal columns need a key of at least 16 characters in the session -#}
    {%- if not execute or not idstitch.personal_columns() -%}{{ return('select 1') }}{%- endif -%}
    {%- set problem = adapter.dispatch('hash_key_problem', 'idstitch')() -%}
    {%- if problem -%}
        {%- set how = {
            'postgres': "Set IDSTITCH_HASH_KEY and run with `idstitch run`, or export "
                        ~ "PGOPTIONS='-c idstitch.hash_key=<key>' before dbt.",
            'duckdb': 'Set IDSTITCH_HASH_KEY and add `plugins: [{module: idstitch.duckdb_plugin}]` to the '
                      ~ 'profile.',
            'spark': "Give the profile's server_side_parameters "
                     ~ "`idstitch.hash_key: \"{{ env_var('DBT_ENV_SECRET_IDSTITCH_HASH_KEY', '') }}\"` and set "
                     ~ 'IDSTITCH_HASH_KEY for `idstitch run` (or DBT_ENV_SECRET_IDSTITCH_HASH_KEY for dbt).',
        }.get(target.type, 'See README "Personal data".') -%}
        {{ exceptions.raise_compiler_error(
            'idstitch: idstitch__personal_columns (' ~ idstitch.personal_columns() | join(', ')
            ~ ') needs a hash key of at least 16 characters, and ' ~ problem ~ '. ' ~ how) }}
    {%- endif -%}
    select 1
{%- endmacro %}


{#- What is wrong with the session's key (none when it is usable): it never appears in the message. -#}
{% macro default__hash_key_problem() -%}
    {%- set length = run_query('select length(' ~ idstitch.hash_key() ~ ')').columns[0].values()[0] -%}
    {%- if length is none -%}{{ return('none reached the warehouse session') }}{%- endif -%}
    {%- if length < 16 -%}{{ return('the one given is too short') }}{%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{#-
    Spark: the key becomes part of the SQL text where Spark substitutes it, so it is checked before any
    statement carries it: read with SET (the value comes back as data, never logged), then it must not
    hold a character that would end or escape the string literal or start another substitution, and a
    statement must see exactly it (spark.sql.variable.substitute off would leave `${…}` as the "key").
-#}
{% macro spark__hash_key_problem() -%}
    {%- set key = run_query('set idstitch.hash_key').columns[1].values()[0] -%}
    {%- if key is none or key == '' or key == '<undefined>' -%}
        {{ return('none reached the Spark session (its conf idstitch.hash_key)') }}
    {%- endif -%}
    {%- if key | length < 16 -%}{{ return('the one given is too short') }}{%- endif -%}
    {%- for character in ["'", '\\', '$', '{', '}'] -%}
        {%- if character in key -%}
            {{ return("the one given holds one of ' \\ $ { }, which cannot pass through Spark's "
                      ~ 'substitution into a string literal: choose another (hex or base64 digits)') }}
        {%- endif -%}
    {%- endfor -%}
    {%- set seen = run_query('select md5(' ~ idstitch.hash_key() ~ ')').columns[0].values()[0] -%}
    {%- if seen != local_md5(key) -%}
        {{ return('the one given does not reach the SQL: Spark must substitute it '
                  ~ '(set spark.sql.variable.substitute to true)') }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}


{% macro personal_settings_changed() -%}
    {#-
        True when this run hashes other columns, or with another key, than the stored tables were
        built with (int_idstitch__run_config, rewritten at the end of each run). Such a run is a
        full refresh (check_stored_config insists), but the history kept across full refreshes
        still holds values in the old form.
    -#}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- set node = graph.nodes.get('model.idstitch.int_idstitch__run_config') -%}
    {%- set stored = adapter.get_relation(database=node.database, schema=node.schema,
                                          identifier=node.alias or node.name) if node else none -%}
    {%- if stored is none -%}{{ return(false) }}{%- endif -%}
    {%- set before = {} -%}
    {%- for row in run_query('select setting, setting_value from ' ~ stored) -%}
        {%- do before.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {%- set now = idstitch.state_settings() -%}
    {%- for name in ['idstitch__personal_columns', 'idstitch__hash_key'] -%}
        {%- if before.get(name, tojson(none) if name == 'idstitch__hash_key' else tojson([])) != now[name] -%}
            {{ return(true) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(false) }}
{%- endmacro %}


{% macro forget_personal_history(identifier_columns) -%}
    {#-
        Pre-hook of the tables kept across --full-refresh (identifier → person history, change
        log): when the personal-data settings changed, values of the identifier traits stored in
        the old form (raw, or hashed with the old key) are forgotten, so no raw value outlives the
        switch to hashing. Rows whose type is an identifier trait are dropped from the history
        (their new form comes back with this run); in the change log only the values are cleared.
    -#}
    {%- if not idstitch.personal_settings_changed() -%}{{ return('') }}{%- endif -%}
    {%- set relation = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
    {%- if relation is none -%}{{ return('') }}{%- endif -%}
    {%- set types = var('idstitch__identifier_traits') -%}
    {%- if not types -%}{{ return('') }}{%- endif -%}
    {%- set type_list = [] -%}
    {%- for identifier_type in types -%}{%- do type_list.append(idstitch.string_literal(identifier_type)) -%}{%- endfor -%}
    {%- for type_column, value_column in identifier_columns -%}
        {%- if value_column is none -%}
    delete from {{ relation }} where {{ type_column }} in ({{ type_list | join(', ') }});
        {%- else -%}
    update {{ relation }} set {{ value_column }} = null where {{ type_column }} in ({{ type_list | join(', ') }});
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}
