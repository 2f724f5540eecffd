{#-
    Overrides dbt-duckdb's macro of the same name (a root-project macro wins over the adapter's).
    dbt-duckdb's incremental materialization calls it after its COMMIT, before dropping the
    relation it swapped out on a --full-refresh (<model>__dbt_backup). Its index query opened a
    new transaction that nothing committed, so the drop was rolled back and every backup stayed
    behind: a full copy of the old table, raw personal values included. Same query, no implicit
    BEGIN: the drop that follows commits on its own. Only dbt-duckdb calls this macro.
-#}
{% macro drop_indexes_on_relation(relation) -%}
  {% call statement('get_indexes_on_relation', fetch_result=True, auto_begin=False) %}
    select index_name
    from duckdb_indexes()
    where schema_name = '{{ relation.schema }}'
      and table_name = '{{ relation.identifier }}'
  {% endcall %}
  {% for row in load_result('get_indexes_on_relation').table %}
    {% call statement('drop_index_' ~ loop.index | string, auto_begin=False) %}
      drop index "{{ relation.schema }}"."{{ row[0] }}"
    {% endcall %}
  {% endfor %}
{%- endmacro %}
