{% macro first_by(value, order_timestamp) -%}
    {{ return(adapter.dispatch('first_by', 'idstitch')(value, order_timestamp)) }}
{%- endmacro %}

{#-
    Aggregate: the text `value` of the row with the smallest `order_timestamp` (ties: smallest value;
    rows with a null timestamp come last). Written as min() over "sortable timestamp ‖ value" so it is a
    plain hash aggregate on every engine — no window, no sort (DuckDB's arg_min and Spark's min_by
    exist, Postgres has neither).
-#}
{% macro default__first_by(value, order_timestamp) -%}
    substring(
        min({{ idstitch.bytewise(dbt.concat([
            "coalesce(" ~ idstitch.sortable_timestamp(order_timestamp) ~ ", '99999999999999999999999999')",
            value])) }}),
        27
    )
{%- endmacro %}


{% macro last_by(value, order_timestamp) -%}
    {{ return(adapter.dispatch('last_by', 'idstitch')(value, order_timestamp)) }}
{%- endmacro %}

{#- Aggregate: the text `value` of the row with the largest `order_timestamp` (ties: largest value;
    null timestamps count as oldest; null values are skipped). -#}
{% macro default__last_by(value, order_timestamp) -%}
    substring(
        max({{ idstitch.bytewise(dbt.concat([
            "coalesce(" ~ idstitch.sortable_timestamp(order_timestamp) ~ ", '00000000000000000000000000')",
            value])) }}),
        27
    )
{%- endmacro %}


{% macro sortable_timestamp(column) -%}
    {{ return(adapter.dispatch('sortable_timestamp', 'idstitch')(column)) }}
{%- endmacro %}

{#-
    26 characters, YYYYYYMMDDhhmmssffffff (the year padded to six digits), that sort like the
    timestamp. The width must not depend on the value: first_by / last_by cut the value off at a
    fixed position, and a five-digit year (a client clock in year 12000) would otherwise shift it.
-#}
{% macro default__sortable_timestamp(column) -%}
    lpad(to_char({{ column }}, 'YYYYMMDDHH24MISSUS'), 26, '0')
{%- endmacro %}

{#-
    Postgres: to_char costs about 0.8 µs a row, most of the package's aggregation time over the message
    index (4.5 M rows on the benchmark). Days since the start of Postgres's calendar and microseconds
    of the day, in fixed-width hex, are exact over Postgres's whole timestamp range and about three
    times cheaper. Infinite timestamps have no position: null, as to_char gives.
-#}
{% macro postgres__sortable_timestamp(column) -%}
    case when isfinite({{ column }}) then lpad(
        lpad(to_hex({{ column }}::date - date '4714-11-24 BC'), 7, '0')
        || lpad(to_hex(round(date_part('epoch', {{ column }}::time) * 1000000)::bigint), 10, '0'),
        26, '0'
    ) end
{%- endmacro %}

{#- DuckDB formats infinity as the text 'infinity', which would sort among the digits: null instead -#}
{% macro duckdb__sortable_timestamp(column) -%}
    case when isfinite({{ column }}) then lpad(strftime({{ column }}, '%Y%m%d%H%M%S%f'), 26, '0') end
{%- endmacro %}

{% macro spark__sortable_timestamp(column) -%}
    lpad(date_format({{ column }}, 'yyyyMMddHHmmssSSSSSS'), 26, '0')
{%- endmacro %}

{#-
    Spark: the same order without formatting a timestamp as text on every row (date_format is the
    costliest expression of the id-tuple and link aggregations): min / max over a struct
    (timestamp missing, timestamp, value) — structs compare field by field, strings by their bytes,
    like the text above. Rows whose value is null take no part, as with the concatenation.
-#}
{% macro spark__first_by(value, order_timestamp) -%}
    min(case when {{ value }} is not null then named_struct(
        'missing', {{ order_timestamp }} is null, 'at', {{ order_timestamp }}, 'value', {{ value }}) end).value
{%- endmacro %}

{% macro spark__last_by(value, order_timestamp) -%}
    max(case when {{ value }} is not null then named_struct(
        'present', {{ order_timestamp }} is not null, 'at', {{ order_timestamp }}, 'value', {{ value }}) end).value
{%- endmacro %}
