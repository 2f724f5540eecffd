{#-
    Materialization `idstitch_table`: the published table models on Spark (chosen at parse time by
    idstitch.table_materialization(); dbt's `table` on every other engine). dbt-spark's `table` drops a
    parquet table before it builds the new one, so readers find the table missing for as long as the
    build takes, and a run killed meanwhile leaves it missing until the next run. Here the new version
    is built beside the table and swapped in by name (idstitch.replace_table): readers see the old
    version until the instant of the swap. Delta and Iceberg tables are replaced in place by dbt-spark's
    `create or replace table`, as its own materialization does.
-#}
{% materialization idstitch_table, adapter='spark' %}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- do idstitch.recover_swap(target_relation) -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set grant_config = config.get('grants') -%}

    {{ run_hooks(pre_hooks) }}

    {%- if existing_relation is not none and not idstitch.overwrites_atomically() -%}
        {%- do idstitch.replace_table(existing_relation, sql) -%}
        {% call statement('main') -%}
            select 1
        {%- endcall %}
    {%- else -%}
        {%- if existing_relation is not none and not (existing_relation.is_delta or existing_relation.is_iceberg) -%}
            {%- do adapter.drop_relation(existing_relation) -%}
        {%- endif -%}
        {% call statement('main') -%}
            {{ create_table_as(False, target_relation, sql) }}
        {%- endcall %}
    {%- endif -%}

    {% do apply_grants(target_relation, grant_config, should_revoke(existing_relation, full_refresh_mode=True)) %}
    {% do persist_docs(target_relation, model) %}

    {{ run_hooks(post_hooks) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
