{#-
    Spark on plain parquet: rewrite a table without ever leaving it half written.

    `insert overwrite` deletes the table's files before it writes the new ones (checked on Spark 3.5):
    meanwhile a reader finds the table empty or half full, and a run killed or failing during the
    statement leaves it so — a later incremental run would build on it and silently lose history. So the
    new version is written beside the table, complete, and swapped in by name:

      1. `<table>__idstitch_next` ← the new version (create table … as select);
      2. mark it complete: table property `idstitch.swap = 'ready'`;
      3. drop `<table>`;
      4. rename `<table>__idstitch_next` to `<table>`.

    A reader sees the old version, or the new one, or — between 3 and 4, two catalog operations — no
    table at all; never part of one. Whatever a kill (or a failure) leaves is unambiguous, and
    `recover_swap` settles it at the start of the next run (`recover_swaps`, on-run-start) and of the
    model itself:

      the table exists                      the swap had not begun: the old version holds, a
                                            leftover `__idstitch_next` is dropped
      no table, a marked `__idstitch_next`  killed between 3 and 4: the new version is complete,
                                            it is renamed in (as if the killed run had finished
                                            that model; docs/decisions/0010-faults.md)
      no table, an unmarked one             never left by a swap (3 comes after 2): dropped

    Formats with transactions (Delta, Iceberg, Hudi) overwrite in place, atomically: no swap there
    (`overwrites_atomically`). Renaming a managed table moves its directory: on an object store without
    renames that is a copy — one more reason to run production on Delta.
-#}

{% macro replace_table(relation, sql) -%}
    {#- Rewrite `relation` (a table, or a view to replace) with the result of `sql`, which may read it. -#}
    {%- set next_relation = idstitch.swap_next_relation(relation) -%}
    {%- do adapter.drop_relation(next_relation) -%}
    {% call statement('idstitch_swap_next') -%}
        {{ create_table_as(False, next_relation, sql) }}
    {%- endcall %}
    {% call statement('idstitch_swap_mark') -%}
        alter table {{ next_relation }} set tblproperties ('idstitch.swap' = 'ready')
    {%- endcall %}
    {{ idstitch.swap_step_done(relation, 'next written') }}
    {%- set current = adapter.get_relation(database=relation.database, schema=relation.schema,
                                           identifier=relation.identifier) -%}
    {%- if current is not none -%}
        {%- do adapter.drop_relation(current) -%}
    {%- endif -%}
    {{ idstitch.swap_step_done(relation, 'old dropped') }}
    {%- do adapter.rename_relation(next_relation, relation.incorporate(type='table')) -%}
{%- endmacro %}


{% macro swap_next_relation(relation) -%}
    {{ return(relation.incorporate(path={'identifier': relation.identifier ~ '__idstitch_next'}, type='table')) }}
{%- endmacro %}


{% macro overwrites_atomically() -%}
    {#- Whether this model's table format overwrites in one transaction (no swap needed). -#}
    {{ return((config.get('file_format') or 'parquet') | lower in ['delta', 'iceberg', 'hudi']) }}
{%- endmacro %}


{% macro recover_swap(relation) -%}
    {#- Settle what a swap of `relation` killed half-way left (the table above); true when it renamed
        the new version in. -#}
    {%- set next_relation = idstitch.swap_next_relation(relation) -%}
    {%- set found = adapter.get_relation(database=next_relation.database, schema=next_relation.schema,
                                         identifier=next_relation.identifier) -%}
    {%- if found is none -%}{{ return(false) }}{%- endif -%}
    {%- set current = adapter.get_relation(database=relation.database, schema=relation.schema,
                                           identifier=relation.identifier) -%}
    {%- if current is none and idstitch.swap_is_ready(found) -%}
        {%- do adapter.rename_relation(found, relation.incorporate(type='table')) -%}
        {{ log('idstitch: ' ~ relation ~ ' restored from ' ~ found.identifier
               ~ ' (a run stopped while swapping it in)', info=True) }}
        {{ return(true) }}
    {%- endif -%}
    {%- do adapter.drop_relation(found) -%}
    {{ return(false) }}
{%- endmacro %}


{% macro swap_is_ready(relation) -%}
    {%- set rows = run_query("show tblproperties " ~ relation ~ " ('idstitch.swap')") -%}
    {{ return(rows | length == 1 and rows[0][1] == 'ready') }}
{%- endmacro %}


{% macro swap_step_done(relation, step) -%}
    {#- Called after each step of a swap; does nothing. A test project overrides it (spark__) to stop a
        run at a step, as a kill would (tests/test_spark.py). -#}
    {{ return(adapter.dispatch('swap_step_done', 'idstitch')(relation, step)) }}
{%- endmacro %}

{% macro default__swap_step_done(relation, step) -%}
    {{ return('') }}
{%- endmacro %}
