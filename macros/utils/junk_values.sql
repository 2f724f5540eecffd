{% macro junk_values() -%}
    {#-
        The junk identifier values, lower-cased and trimmed: the seed plus the var
        `idstitch__extra_junk_identifiers`. Read when the model runs (the seed is upstream), and
        inlined as literals, so staging stays a plain, join-free view on every engine.
    -#}
    {#- 'null' is built in: seed loaders (agate) read that text as a NULL, so it cannot live in the CSV. -#}
    {%- set values = ['null'] -%}
    {%- set seed = ref('idstitch_junk_identifiers') -%}
    {%- if execute -%}
        {%- set seed_rows = run_query('select value from ' ~ seed) -%}
        {%- for value in seed_rows.columns[0].values() -%}
            {%- if value is not none -%}{%- do values.append(value | string | trim | lower) -%}{%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for value in var('idstitch__extra_junk_identifiers') -%}
        {%- do values.append(value | string | trim | lower) -%}
    {%- endfor -%}
    {{ return(values | unique | list | sort) }}
{%- endmacro %}
