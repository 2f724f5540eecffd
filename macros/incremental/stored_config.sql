{% macro state_settings() -%}
    {#-
        The settings stored state depends on: change one and incremental runs would mix old and new
        results (rows from another source, fact columns that differ), so the run stops and asks for
        --full-refresh (check_stored_config). Settings that only change decisions — junk list, hub
        limit, session gap, lower-casing — are not here: every run recomputes the graph from the
        message index and rewrites the facts whose person changed, so they apply incrementally.
    -#}
    {%- set settings = {} -%}
    {%- for name in ['idstitch__source_database', 'idstitch__source_schema', 'idstitch__tracks_table',
                     'idstitch__pages_table', 'idstitch__identifies_table', 'idstitch__aliases_table',
                     'idstitch__traits', 'idstitch__identifier_traits', 'idstitch__personal_columns'] -%}
        {%- do settings.update({name: tojson(var(name))}) -%}
    {%- endfor -%}
    {#- stored hashes depend on the key: its fingerprint, never the key -#}
    {%- do settings.update({'idstitch__hash_key': tojson(idstitch.hash_key_fingerprint())}) -%}
    {#- the layout of the stored working tables; a release that changes it bumps this, and stores
        written before it was recorded are format 1 (check_stored_config) -#}
    {%- do settings.update({'idstitch__state_format': idstitch.state_format()}) -%}
    {{ return(settings) }}
{%- endmacro %}


{% macro check_stored_config() -%}
    {#-
        on-run-start: compare the settings above with those the stored tables were built with
        (model int_idstitch__run_config, rebuilt at the end of every run). A --full-refresh run
        rebuilds everything and is always allowed.
    -#}
    {%- if not execute or flags.FULL_REFRESH -%}{{ return('select 1') }}{%- endif -%}
    {%- set node = graph.nodes.get('model.idstitch.int_idstitch__run_config') -%}
    {%- if node is none -%}{{ return('select 1') }}{%- endif -%}
    {%- set stored = adapter.get_relation(database=node.database, schema=node.schema,
                                          identifier=node.alias or node.name) -%}
    {%- if stored is none -%}{{ return('select 1') }}{%- endif -%}
    {%- set rows = run_query('select setting, setting_value from ' ~ stored) -%}
    {%- set before = {} -%}
    {%- for row in rows -%}{%- do before.update({row[0]: row[1]}) -%}{%- endfor -%}
    {%- set changed = [] -%}
    {%- for name, value in idstitch.state_settings().items() -%}
        {%- set stored_value = before.get(name, '1' if name == 'idstitch__state_format' else value) -%}
        {%- if stored_value != value -%}
            {%- do changed.append(name ~ ': ' ~ stored_value ~ ' → ' ~ value) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if changed -%}
        {{ exceptions.raise_compiler_error(
            'idstitch: these settings changed since the stored tables were built:\n  - '
            ~ changed | join('\n  - ')
            ~ '\nAn incremental run would mix results of the old and new settings. Rebuild with '
            ~ '`dbt build --full-refresh` (person ids stay deterministic; the change log records '
            ~ 'what the rebuild merged or split).') }}
    {%- endif -%}
    select 1
{%- endmacro %}


{% macro state_format() -%}
    {#-
        2: the id tuples' key is engine-specific (unhashed on Postgres) and only tuples that link ids
           keep a first message. An incremental run over format 1 tuples would add every new message's
           tuple beside its stored twin instead of merging them.
    -#}
    {{ return('2') }}
{%- endmacro %}
