{% macro table_enabled(table_name) -%}
    {#- Optional tables (pages, aliases) switched on by var idstitch__<table>_enabled; anything but
        `true` switches off here, and on-run-start (validate_config) refuses a value that is not a boolean. -#}
    {%- if table_name in ['pages', 'aliases'] -%}
        {{ return(var('idstitch__' ~ table_name ~ '_enabled') in [true]) }}
    {%- endif -%}
    {{ return(true) }}
{%- endmacro %}


{% macro event_sources(with_identifies=true) -%}
    {#- The message tables that carry events with a person: tracks, pages (if enabled), identifies. -#}
    {%- set sources = ['tracks'] -%}
    {%- if idstitch.table_enabled('pages') -%}{%- do sources.append('pages') -%}{%- endif -%}
    {%- if with_identifies -%}{%- do sources.append('identifies') -%}{%- endif -%}
    {{ return(sources) }}
{%- endmacro %}
