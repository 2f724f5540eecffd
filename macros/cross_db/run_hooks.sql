{#-
    Overrides dbt's run_hooks (a root-project macro wins over the global one and over the adapter's):
    the same, except that no `commit` precedes the hooks that run outside the model's transaction on
    Spark (no transactions; it refuses `commit`) and on DuckDB (dbt-duckdb's own override drops it
    too: no transaction is open there). Every model here has such a hook (the run lock's heartbeat,
    docs/decisions/0010-faults.md).
-#}
{% macro run_hooks(hooks, inside_transaction=True) %}
  {% for hook in hooks | selectattr('transaction', 'equalto', inside_transaction) %}
    {% if not inside_transaction and loop.first and target.type not in ('spark', 'duckdb') %}
      {% call statement(auto_begin=inside_transaction) %}
        commit;
      {% endcall %}
    {% endif %}
    {% set rendered = render(hook.get('sql')) | trim %}
    {% if (rendered | length) > 0 %}
      {% call statement(auto_begin=inside_transaction) %}
        {{ rendered }}
      {% endcall %}
    {% endif %}
  {% endfor %}
{% endmacro %}
