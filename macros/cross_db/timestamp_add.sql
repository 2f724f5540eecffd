{% macro timestamp_add(datepart, interval, from_timestamp) -%}
    {#- dbt.dateadd, exact to the microsecond on every engine (named apart from dbt's `dateadd`, whose
        `<engine>__dateadd` implementations a root project's macros of the same name would replace). -#}
    {{ return(adapter.dispatch('timestamp_add', 'idstitch')(datepart, interval, from_timestamp)) }}
{%- endmacro %}

{% macro default__timestamp_add(datepart, interval, from_timestamp) -%}
    {{ dbt.dateadd(datepart, interval, from_timestamp) }}
{%- endmacro %}

{#-
    Spark: dbt-spark's dateadd goes through unix seconds for hours and minutes and drops the fraction of
    a second, which moves session boundaries (`previous event + gap < event`) by up to a second against
    the other engines. timestampadd keeps microseconds.
-#}
{% macro spark__timestamp_add(datepart, interval, from_timestamp) -%}
    timestampadd({{ datepart }}, {{ interval }}, {{ from_timestamp }})
{%- endmacro %}
