{% macro planner_settings() -%}
    {{ return(adapter.dispatch('planner_settings', 'idstitch')()) }}
{%- endmacro %}

{% macro default__planner_settings() -%}
    select 1
{%- endmacro %}

{#-
    Postgres, for this model's transaction only (`set local`): every join in the package is an
    equi-join over large inputs, which a hash join serves best. Row estimates for CTEs and freshly
    built tables can be off by orders of magnitude, and a nested loop or a merge join chosen on
    such an estimate turned a 1-second model into a 10-minute one on the 100k-person benchmark.
    JIT compilation costs more than it saves on these one-pass statements.
-#}
{% macro postgres__planner_settings() -%}
    set local enable_nestloop = off;
    set local enable_mergejoin = off;
    set local jit = off
{%- endmacro %}


{% macro sorted_aggregation() -%}
    {{ return(adapter.dispatch('sorted_aggregation', 'idstitch')()) }}
{%- endmacro %}

{% macro default__sorted_aggregation() -%}
    select 1
{%- endmacro %}

{#-
    Postgres, for one model's transaction: group by sorting instead of hashing. For a grouping whose
    keys are nearly all distinct (every message id, to find the few received twice) the hash table
    outgrows work_mem and spills in batches, while a sort runs in parallel workers: 2.6 s against
    1.1 s per 2.5 M ids on the benchmark.
-#}
{% macro postgres__sorted_aggregation() -%}
    set local enable_hashagg = off
{%- endmacro %}
