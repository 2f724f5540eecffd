{#-
    The run log and the run lock (docs/decisions/0010-faults.md).

    `<internal schema>.idstitch_run_log` has a row when a run that builds idstitch models starts
    ('started') and when it ends ('complete': every idstitch model succeeded; 'incomplete': some
    failed, were skipped or were not selected). A run that was killed has no end row.

    Incremental models pick up "what changed" by the `changed_in_run_at` stamps rows carry, and
    they read every row stamped after the last COMPLETE run — not only this run's rows. So a run
    that was killed half-way (or failed, or built a selection) leaves nothing behind that the next
    run would miss: the next run takes over the unfinished run's changes as its own, and each
    consumer is written so that seeing a change twice does no harm (docs/decisions/0010).

    The lock: on Postgres `on-run-start` refuses to start while another run is alive
    (idstitch.postgres__start_run); elsewhere the engine's own file lock (DuckDB) keeps a second
    process out.
-#}

{% macro run_log_relation() -%}
    {#- Beside the working tables: the internal schema, as dbt resolved it for int_idstitch__run_config. -#}
    {%- set node = graph.nodes.get('model.idstitch.int_idstitch__run_config') -%}
    {{ return(api.Relation.create(database=node.database, schema=node.schema,
                                  identifier='idstitch_run_log', type='table')) }}
{%- endmacro %}


{% macro run_builds_models() -%}
    {#- Whether this invocation builds any idstitch model or seed (a `dbt test` or a selection of
        other models does not take the lock nor log a run). -#}
    {%- for unique_id in selected_resources -%}
        {%- if unique_id.startswith('model.idstitch.') or unique_id.startswith('seed.idstitch.') -%}
            {{ return(true) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(false) }}
{%- endmacro %}


{% macro last_complete_run() -%}
    {#- The stamp (run_started_at) of the newest complete run, as a timestamp literal; long ago when
        there is none (first run, or a run after a killed first run): then everything is "new". -#}
    {%- set none_yet = "cast('1900-01-01 00:00:00' as " ~ dbt.type_timestamp() ~ ")" -%}
    {%- if not execute -%}{{ return(none_yet) }}{%- endif -%}
    {%- set log = idstitch.run_log_relation() -%}
    {%- if adapter.get_relation(database=log.database, schema=log.schema, identifier=log.identifier) is none -%}
        {{ return(none_yet) }}
    {%- endif -%}
    {%- set newest = run_query("select max(run_started_at) from " ~ log ~ " where event = 'complete'").columns[0].values()[0] -%}
    {%- if newest is none -%}{{ return(none_yet) }}{%- endif -%}
    {{ return("cast('" ~ newest.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
{%- endmacro %}


{% macro changed_since_complete_run(column='changed_in_run_at') -%}
    {#- Rows stamped by this run or by an unfinished run since the last complete one. -#}
    {{ column }} > {{ idstitch.last_complete_run() }}
{%- endmacro %}


{% macro begin_run() -%}
    {#- on-run-start: create the run log, take the run lock, log this run as started. -#}
    {%- if not execute or not idstitch.run_builds_models() -%}{{ return('select 1') }}{%- endif -%}
    {%- set log = idstitch.run_log_relation() -%}
    {%- do run_query('create schema if not exists ' ~ adapter.quote(log.schema)) -%}
    {%- do run_query(
        'create table if not exists ' ~ log ~ ' ('
        ~ ' invocation_id ' ~ dbt.type_string() ~ ','
        ~ ' run_started_at ' ~ dbt.type_timestamp() ~ ','
        ~ ' event ' ~ dbt.type_string() ~ ','
        ~ ' logged_at ' ~ dbt.type_timestamp() ~ ','
        ~ ' command ' ~ dbt.type_string() ~ ','
        ~ ' holder ' ~ dbt.type_string() ~ ','
        ~ ' holder_pid ' ~ dbt.type_int() ~ ','
        ~ ' holder_backend_start ' ~ dbt.type_timestamp() ~ ','
        ~ ' heartbeat_at ' ~ dbt.type_timestamp() ~ ')') -%}
    {%- do adapter.cache_added(log) -%}  {#- so that get_relation finds it in this invocation #}
    {%- do adapter.dispatch('start_run', 'idstitch')(log, idstitch.run_holder()) -%}
    select 1
{%- endmacro %}


{#- Engines without a run lock here (DuckDB: its file lock keeps a second process out while a run
    holds the database open — `keep_open: true` in the profile, or `idstitch run`). -#}
{% macro default__start_run(log, holder) -%}
    {%- do idstitch.log_run_started(log, holder) -%}
{%- endmacro %}


{% macro log_run_started(log, holder) -%}
    {%- set last_complete = idstitch.last_complete_run() -%}
    {%- set clock_ok = run_query('select case when ' ~ idstitch.run_stamp() ~ ' > ' ~ last_complete
                                 ~ ' then 1 else 0 end').columns[0].values()[0] -%}
    {%- if clock_ok != 1 -%}
        {{ exceptions.raise_compiler_error(
            'idstitch: this run started at ' ~ run_started_at ~ ' (UTC), not after the last complete run ('
            ~ last_complete ~ '): the clock of this machine is behind. Rows this run writes would look '
            ~ 'older than what the next run reads; fix the clock and run again.') }}
    {%- endif -%}
    {%- do run_query(
        "insert into " ~ log ~ " (invocation_id, run_started_at, event, logged_at, command, holder,"
        ~ " holder_pid, holder_backend_start, heartbeat_at) values ("
        ~ "'" ~ invocation_id ~ "', " ~ idstitch.run_stamp() ~ ", 'started', " ~ idstitch.log_clock() ~ ", "
        ~ idstitch.string_literal(idstitch.run_command()) ~ ", " ~ idstitch.string_literal(holder.description) ~ ", "
        ~ (holder.pid if holder.pid else 'null') ~ ", "
        ~ ("cast('" ~ holder.backend_start ~ "' as " ~ dbt.type_timestamp() ~ ")" if holder.backend_start else 'null') ~ ", "
        ~ idstitch.log_clock() ~ ")") -%}
{%- endmacro %}


{% macro end_run(results) -%}
    {#- on-run-end: log this run as complete when every enabled idstitch model succeeded in it
        (anything less — a failure, a skip, a selection — is incomplete: the next run takes over
        its changes); then the lock is free. -#}
    {%- if not execute or not idstitch.run_builds_models() -%}{{ return('select 1') }}{%- endif -%}
    {%- set log = idstitch.run_log_relation() -%}
    {%- if adapter.get_relation(database=log.database, schema=log.schema, identifier=log.identifier) is none -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set started = run_query("select count(*) from " ~ log ~ " where invocation_id = '" ~ invocation_id
                                ~ "' and event = 'started'").columns[0].values()[0] -%}
    {%- if started == 0 -%}{{ return('select 1') }}{%- endif -%}
    {%- set succeeded = [] -%}
    {%- for result in results if result.node.resource_type == 'model' and result.status == 'success' -%}
        {%- do succeeded.append(result.node.unique_id) -%}
    {%- endfor -%}
    {%- set missing = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.package_name == 'idstitch' -%}
        {%- if node.unique_id not in succeeded -%}{%- do missing.append(node.name) -%}{%- endif -%}
    {%- endfor -%}
    {%- do run_query(
        "insert into " ~ log ~ " (invocation_id, run_started_at, event, logged_at, command, holder) values ("
        ~ "'" ~ invocation_id ~ "', " ~ idstitch.run_stamp() ~ ", '" ~ ('incomplete' if missing else 'complete')
        ~ "', " ~ idstitch.log_clock() ~ ", " ~ idstitch.string_literal(idstitch.run_command()) ~ ", "
        ~ idstitch.string_literal(('not built: ' ~ (missing | join(', '))) if missing else '') ~ ")") -%}
    select 1
{%- endmacro %}


{% macro run_command() -%}
    {%- set words = ['dbt', flags.WHICH] + (['--full-refresh'] if flags.FULL_REFRESH else []) -%}
    {{ return(words | join(' ')) }}
{%- endmacro %}


{% macro run_holder() -%}
    {#- Who runs this invocation. `idstitch run` says so in IDSTITCH_RUN_HOLDER (JSON: description,
        and on Postgres the pid and start time of the session in which it holds its own lock for
        the whole run); a plain dbt run is described by its command. -#}
    {%- set given = env_var('IDSTITCH_RUN_HOLDER', '') -%}
    {%- set holder = {'description': idstitch.run_command(), 'pid': none, 'backend_start': none} -%}
    {%- if given -%}
        {%- do holder.update(fromjson(given)) -%}
    {%- endif -%}
    {{ return(holder) }}
{%- endmacro %}


{% macro log_clock() -%}
    {{ return(adapter.dispatch('log_clock', 'idstitch')()) }}
{%- endmacro %}

{% macro default__log_clock() -%}
    cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- Postgres: the wall clock now (now() is the transaction's start), in UTC whatever the session's zone. -#}
{% macro postgres__log_clock() -%}
    (clock_timestamp() at time zone 'UTC')
{%- endmacro %}


{% macro drop_unfinished_changes() -%}
    {#- pre-hook of the logs appended per run (person_changes, closure_runs): delete the rows of runs
        that started after the last complete one and did not complete — this run logs their work
        again, with its own — so a killed run leaves no trace a clean run would not have. -#}
    {%- if is_incremental() -%}
        {{ idstitch.delete_rows(this, "invocation_id in (
            select invocation_id from " ~ idstitch.run_log_relation() ~ "
            where event = 'started' and " ~ idstitch.changed_since_complete_run('run_started_at') ~ ")") }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{#- ------------------------------------------------------------------------------------------ the lock -#}

{#-
    Postgres: a run is alive while
      - it was started by `idstitch run` and that process's lock session is still connected
        (holder_pid / holder_backend_start in pg_stat_activity): definitive, and gone the moment
        the process dies; or
      - one of its models is running: each model holds a shared advisory lock for its transaction
        (idstitch.hold_run_lock), so an exclusive try fails; or
      - a model of it finished less than var idstitch__run_lock_timeout_minutes ago (between
        models — data tests, compilation — a plain dbt run holds nothing: dbt opens a connection
        per node and closes it after), and the server has not restarted since.
    Acquirers serialise on a table lock, so two runs starting together cannot both get in. A run
    found dead is logged 'abandoned'; if it was in fact alive (a plain dbt run quiet for longer
    than the timeout), its next model sees that and stops, so two runs never both write.
    (Hooks run on an autocommit connection: the transaction is explicit.)
-#}
{% macro postgres__start_run(log, holder) -%}
    {%- do run_query('begin') -%}
    {%- set alive = idstitch.abandon_dead_runs(log, 'found dead by ' ~ invocation_id) -%}
    {%- if alive -%}
        {%- do run_query('rollback') -%}
        {{ exceptions.raise_compiler_error(
            'idstitch: another run is building this target: ' ~ alive[0].holder ~ ' (invocation '
            ~ alive[0].invocation_id ~ ', started ' ~ alive[0].started ~ ' UTC; ' ~ alive[0].why ~ '). This run '
            ~ 'stops before writing anything: run again when it has finished. A killed plain dbt run counts '
            ~ 'as running for ' ~ var('idstitch__run_lock_timeout_minutes') ~ ' minutes after its last model '
            ~ '(an idstitch run: until its process is gone); if you know it is dead, '
            ~ '`dbt run-operation idstitch.release_run_lock`.') }}
    {%- endif -%}
    {%- do idstitch.log_run_started(log, holder) -%}
    {%- do run_query('commit') -%}
{%- endmacro %}


{% macro abandon_dead_runs(log, reason, timeout_minutes=none) -%}
    {#-
        Postgres, inside the caller's transaction: lock the run log (acquirers queue here), log every run
        without an end row that is dead as 'abandoned' (with `reason`), and return the live ones:
        [{invocation_id, holder, started, why}].
    -#}
    {%- set timeout = (var('idstitch__run_lock_timeout_minutes') if timeout_minutes is none else timeout_minutes) | int -%}
    {%- set now = "(clock_timestamp() at time zone 'UTC')" -%}
    {%- do run_query('lock table ' ~ log ~ ' in share row exclusive mode') -%}
    {%- set models_idle = run_query(
        'select pg_try_advisory_xact_lock(' ~ idstitch.run_lock_key(log) ~ ')').columns[0].values()[0] -%}
    {%- set running = run_query(
        "select started.invocation_id, started.holder, cast(started.run_started_at as " ~ dbt.type_string() ~ "),"
        ~ " cast(extract(epoch from " ~ now ~ " - started.heartbeat_at) as integer),"
        ~ " started.holder_pid is not null,"
        ~ " exists (select 1 from pg_stat_activity as activity where activity.pid = started.holder_pid"
        ~ "         and (activity.backend_start at time zone 'UTC') = started.holder_backend_start),"
        ~ " started.heartbeat_at > " ~ now ~ " - interval '" ~ timeout ~ " minutes'"
        ~ "   and started.heartbeat_at > (pg_postmaster_start_time() at time zone 'UTC')"
        ~ " from " ~ log ~ " as started"
        ~ " where started.event = 'started' and started.invocation_id <> '" ~ invocation_id ~ "'"
        ~ "   and not exists (select 1 from " ~ log ~ " as ended"
        ~ "                   where ended.invocation_id = started.invocation_id and ended.event <> 'started')") -%}
    {%- set alive = [] -%}
    {%- for row in running -%}
        {%- set other, other_holder, other_started, quiet_seconds, by_cli, cli_alive, recent = row -%}
        {%- set why = none -%}
        {%- if not models_idle -%}
            {%- set why = 'one of its models is running' -%}
        {%- elif by_cli and cli_alive -%}
            {%- set why = 'its process holds the run lock' -%}
        {%- elif not by_cli and recent -%}
            {%- set why = 'its last model finished ' ~ quiet_seconds ~ ' s ago' -%}
        {%- endif -%}
        {%- if why is none -%}
            {%- do run_query(
                "insert into " ~ log ~ " (invocation_id, run_started_at, event, logged_at, command, holder)"
                ~ " select invocation_id, run_started_at, 'abandoned', " ~ idstitch.log_clock() ~ ", command, "
                ~ idstitch.string_literal(reason)
                ~ " from " ~ log ~ " where invocation_id = '" ~ other ~ "' and event = 'started'") -%}
        {%- else -%}
            {%- do alive.append({'invocation_id': other, 'holder': other_holder, 'started': other_started[:19],
                                 'why': why}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(alive) }}
{%- endmacro %}


{% macro release_run_lock() -%}
    {#-
        `dbt run-operation idstitch.release_run_lock`: for a plain dbt run you know is dead (killed,
        interrupted with Ctrl-C) that still blocks the next run for idstitch__run_lock_timeout_minutes.
        Logs every run without an end row as abandoned — except one with a model running, or whose
        `idstitch run` process is alive. Safe even if you are wrong: a run found abandoned stops at
        its next model (idstitch.hold_run_lock).
    -#}
    {{ return(adapter.dispatch('release_run_lock', 'idstitch')()) }}
{%- endmacro %}

{% macro default__release_run_lock() -%}
    {{ log('idstitch: no run lock to release on ' ~ target.type ~ ' (the engine locks the database itself)', info=True) }}
{%- endmacro %}

{% macro postgres__release_run_lock() -%}
    {%- set run_log = idstitch.run_log_relation() -%}
    {%- if adapter.get_relation(database=run_log.database, schema=run_log.schema, identifier=run_log.identifier) is none -%}
        {{ log('idstitch: no run log yet, nothing to release', info=True) }}
        {{ return('') }}
    {%- endif -%}
    {%- do run_query('begin') -%}
    {%- set alive = idstitch.abandon_dead_runs(run_log, 'released by run-operation ' ~ invocation_id, 0) -%}
    {%- do run_query('commit') -%}
    {%- for run in alive -%}
        {{ log('idstitch: not released, it is alive: ' ~ run.holder ~ ' (invocation ' ~ run.invocation_id ~ '; '
               ~ run.why ~ ')', info=True) }}
    {%- endfor -%}
    {{ log('idstitch: run lock released' ~ (' (a live run still holds it)' if alive else ''), info=True) }}
{%- endmacro %}


{% macro query_in_transaction(sql, fetch=True) -%}
    {#- run_query runs outside any transaction (autocommit): locks taken "for the transaction" need
        the one dbt opens for the model (or for this hook) and commits at its end. -#}
    {%- call statement('idstitch_in_transaction', fetch_result=fetch, auto_begin=True) -%}
        {{ sql }}
    {%- endcall -%}
    {{ return(load_result('idstitch_in_transaction').table if fetch else none) }}
{%- endmacro %}


{% macro run_lock_key(log) -%}
    {#- The advisory lock key of one target's runs (one per run log). -#}
    hashtext({{ idstitch.string_literal('idstitch run ' ~ log) }})
{%- endmacro %}


{% macro hold_run_lock() -%}
    {#- pre-hook of every idstitch model and seed (inside its transaction). -#}
    {{ return(adapter.dispatch('hold_run_lock', 'idstitch')()) }}
{%- endmacro %}

{% macro default__hold_run_lock() -%}
{%- endmacro %}

{#- Postgres: hold the shared run lock while this model writes (acquirers see the run alive), then
    make sure this run still owns the target: a run found dead by another one stops here. -#}
{% macro postgres__hold_run_lock() -%}
    {%- if execute -%}
        {%- set log = idstitch.run_log_relation() -%}
        {%- do idstitch.query_in_transaction('select pg_advisory_xact_lock_shared(' ~ idstitch.run_lock_key(log) ~ ')') -%}
        {%- set lost = idstitch.query_in_transaction("select count(*) from " ~ log ~ " where invocation_id = '" ~ invocation_id
                                 ~ "' and event = 'abandoned'").columns[0].values()[0] -%}
        {%- if lost > 0 -%}
            {{ exceptions.raise_compiler_error(
                'idstitch: this run lost the run lock: another run found it inactive for longer than '
                ~ 'var idstitch__run_lock_timeout_minutes and took over. This run stops before writing '
                ~ model.name ~ '; the other run completes the work.') }}
        {%- endif -%}
    {%- endif -%}
    select 1
{%- endmacro %}


{% macro touch_run_lock() -%}
    {#- post-hook of every idstitch model and seed, committed with the model: this run is alive. -#}
    {{ return(adapter.dispatch('touch_run_lock', 'idstitch')()) }}
{%- endmacro %}

{% macro default__touch_run_lock() -%}
{%- endmacro %}

{% macro postgres__touch_run_lock() -%}
    {%- if execute -%}
    update {{ idstitch.run_log_relation() }} set heartbeat_at = {{ idstitch.log_clock() }}
    where invocation_id = '{{ invocation_id }}' and event = 'started'
    {%- endif -%}
{%- endmacro %}
