{% macro source_columns(source_name, table_name, required) -%}
    {#-
        The columns of a source table, after checking that the table exists and has the
        `required` columns. Fails the model with a message naming the table, the missing columns
        and the var to set, before anything is built. Returns [] when not executing (parse, docs).
    -#}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set found = adapter.get_relation(database=relation.database, schema=relation.schema,
                                         identifier=relation.identifier) -%}
    {%- if found is none -%}
        {{ exceptions.raise_compiler_error(
            'idstitch: source table ' ~ relation ~ ' (' ~ table_name ~ ') does not exist. Set var '
            ~ 'idstitch__source_schema / idstitch__' ~ table_name ~ '_table to where it lives'
            ~ (', or switch it off with idstitch__' ~ table_name ~ '_enabled: false'
               if table_name in ['pages', 'aliases'] else '') ~ '.') }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(found) -%}
    {%- set names = columns | map(attribute='name') | map('lower') | list -%}
    {%- set missing = [] -%}
    {%- for column in required -%}
        {%- if column | lower not in names -%}{%- do missing.append(column) -%}{%- endif -%}
    {%- endfor -%}
    {%- if missing -%}
        {{ exceptions.raise_compiler_error(
            'idstitch: source table ' ~ relation ~ ' is missing required column(s): '
            ~ missing | join(', ') ~ '. Found: ' ~ names | join(', ') ~ '.') }}
    {%- endif -%}
    {#- columns the package writes itself would appear twice in the facts (Postgres fails, DuckDB
        renames one); a double quote cannot be passed through as a quoted name on every engine -#}
    {%- set own_columns = ['message_id', 'event_at', 'person_id', 'attribution_method'] -%}
    {%- set clashing = [] -%}
    {%- set unquotable = [] -%}
    {%- for column in columns -%}
        {%- if column.name | lower in own_columns -%}{%- do clashing.append(column.name) -%}{%- endif -%}
        {%- if '"' in column.name -%}{%- do unquotable.append(column.name) -%}{%- endif -%}
    {%- endfor -%}
    {%- if clashing or unquotable -%}
        {{ exceptions.raise_compiler_error(
            'idstitch: source table ' ~ relation ~ ' has '
            ~ ('column(s) ' ~ clashing | join(', ') ~ ', which idstitch writes itself ('
               ~ own_columns | join(', ') ~ ')' if clashing else '')
            ~ (' and ' if clashing and unquotable else '')
            ~ ('column name(s) containing a double quote: ' ~ unquotable | join(', ') if unquotable else '')
            ~ '. Rename them in a view over the table and set var idstitch__' ~ table_name
            ~ '_table to that view.') }}
    {%- endif -%}
    {#- time columns must hold timestamps (or text the engine can cast); ids may be any type -#}
    {%- for column in columns if column.name | lower in ['timestamp', 'received_at'] -%}
        {%- set data_type = column.data_type | lower -%}
        {%- if not (('time' in data_type) or ('date' in data_type) or ('char' in data_type)
                    or ('text' in data_type) or ('string' in data_type)) -%}
            {{ exceptions.raise_compiler_error(
                'idstitch: source column ' ~ relation.schema ~ '.' ~ relation.identifier ~ '.' ~ column.name ~ ' has type ' ~ column.data_type
                ~ '; expected a timestamp (or text holding timestamps).') }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}


{% macro passthrough_columns(columns, handled) -%}
    {#- Quoted names of the source columns the staging model does not rename itself. -#}
    {%- set handled_lower = handled | map('lower') | list -%}
    {%- set passthrough = [] -%}
    {%- for column in columns -%}
        {%- if column.name | lower not in handled_lower -%}
            {%- do passthrough.append(adapter.quote(column.name)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(passthrough) }}
{%- endmacro %}
