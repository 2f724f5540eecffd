{#-
    The SQL of each closure step, dispatched so an engine can override one step without
    forking the loop (see materializations/idstitch_closure.sql). Plain SQL only: group-by min,
    self-joins, distinct, count — it runs unchanged on DuckDB, Postgres and Spark SQL.
-#}

{% macro closure_initial_edges_sql(model_sql) -%}
    {{ return(adapter.dispatch('closure_initial_edges_sql', 'idstitch')(model_sql)) }}
{%- endmacro %}

{% macro default__closure_initial_edges_sql(model_sql) -%}
with model_edges as (
    {{ model_sql }}
),

both_directions as (
    select node_a as src, node_b as dst from model_edges
    union all
    select node_b as src, node_a as dst from model_edges
)

select distinct src, dst
from both_directions
where src is not null and dst is not null and src <> dst
{%- endmacro %}


{% macro closure_hook_sql(edges) -%}
    {{ return(adapter.dispatch('closure_hook_sql', 'idstitch')(edges)) }}
{%- endmacro %}

{% macro default__closure_hook_sql(edges) -%}
select
    src as node,
    case when min(dst) < src then min(dst) else src end as parent
from {{ edges }}
group by src
{%- endmacro %}


{% macro closure_unsettled_sql(parents) -%}
    {{ return(adapter.dispatch('closure_unsettled_sql', 'idstitch')(parents)) }}
{%- endmacro %}

{% macro default__closure_unsettled_sql(parents) -%}
select count(*)
from {{ parents }} as child
inner join {{ parents }} as up on child.parent = up.node
where up.parent <> child.parent
{%- endmacro %}


{% macro closure_jump_sql(parents) -%}
    {{ return(adapter.dispatch('closure_jump_sql', 'idstitch')(parents)) }}
{%- endmacro %}

{% macro default__closure_jump_sql(parents) -%}
select
    child.node,
    coalesce(up.parent, child.parent) as parent
from {{ parents }} as child
left join {{ parents }} as up on child.parent = up.node
{%- endmacro %}


{% macro closure_contract_sql(edges, parents) -%}
    {{ return(adapter.dispatch('closure_contract_sql', 'idstitch')(edges, parents)) }}
{%- endmacro %}

{% macro default__closure_contract_sql(edges, parents) -%}
select distinct
    from_root.parent as src,
    to_root.parent as dst
from {{ edges }} as edge
inner join {{ parents }} as from_root on edge.src = from_root.node
inner join {{ parents }} as to_root on edge.dst = to_root.node
where from_root.parent <> to_root.parent
{%- endmacro %}


{% macro closure_labels_sql(edges, round_maps) -%}
    {{ return(adapter.dispatch('closure_labels_sql', 'idstitch')(edges, round_maps)) }}
{%- endmacro %}

{#- Compose the per-round root maps: a node's round-1 root, then that root's round-2 root, ... -#}
{% macro default__closure_labels_sql(edges, round_maps) -%}
{%- if round_maps | length == 0 -%}
select src as node, src as label
from {{ edges }}
where 1 = 0
{%- else -%}
{%- set ns = namespace(current='m1.parent') -%}
select
    m1.node,
    {% for i in range(2, round_maps | length + 1) -%}
        {%- set ns.current = 'coalesce(m' ~ i ~ '.parent, ' ~ ns.current ~ ')' -%}
    {%- endfor -%}
    {{ ns.current }} as label
from {{ round_maps[0] }} as m1
{%- set ns.current = 'm1.parent' %}
{% for i in range(2, round_maps | length + 1) -%}
left join {{ round_maps[i - 1] }} as m{{ i }} on m{{ i }}.node = {{ ns.current }}
{% set ns.current = 'coalesce(m' ~ i ~ '.parent, ' ~ ns.current ~ ')' -%}
{%- endfor -%}
{%- endif -%}
{%- endmacro %}


{% macro closure_log_sql(closure_name, rounds, converged, input_links, identifiers, max_jumps) -%}
    {{ return(adapter.dispatch('closure_log_sql', 'idstitch')(
        closure_name, rounds, converged, input_links, identifiers, max_jumps)) }}
{%- endmacro %}

{% macro default__closure_log_sql(closure_name, rounds, converged, input_links, identifiers, max_jumps) -%}
select
    cast('{{ invocation_id }}' as {{ dbt.type_string() }}) as invocation_id,
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }}) as run_started_at,
    cast('{{ closure_name }}' as {{ dbt.type_string() }}) as closure_name,
    cast({{ rounds }} as {{ dbt.type_int() }}) as rounds,
    cast({{ max_jumps }} as {{ dbt.type_int() }}) as max_jumps_per_round,
    {{ 'true' if converged else 'false' }} as converged,
    cast({{ input_links }} as {{ dbt.type_bigint() }}) as input_links,
    cast({{ identifiers }} as {{ dbt.type_bigint() }}) as identifiers
{%- endmacro %}
