{#-
    Materialization `idstitch_closure`: connected components of an undirected graph.

    The model's SQL selects integer edges `node_a, node_b` (one row per accepted link, any
    direction, duplicates allowed). The materialized table holds one row per node that has an
    edge: `node, label`, where `label` is the smallest node id of its component. Nodes without an
    edge are not listed: callers label them with themselves.

    Algorithm (docs/decisions/0002-closure.md): hook every node to its smallest neighbour, flatten
    the resulting trees by pointer jumping, contract the edge list to the roots, repeat until no
    edge is left. Rounds grow with log(longest chain) whatever order the ids are in. Each round is
    logged; running out of rounds or jumps fails the model. A one-row log of the run is kept
    beside the table (`<table>__log`) and collected by the `closure_runs` model.

    Scratch tables are ordinary tables named `<table>__<step>` in the model's schema (portable to
    engines without temporary tables); they are dropped at the start (leftovers of a killed run)
    and at the end. The model table itself is swapped in only when the loop has succeeded, so a
    failed run leaves the previous table untouched.
-#}
{% materialization idstitch_closure, default %}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set max_rounds = config.get('max_rounds') or var('idstitch__closure_max_rounds') -%}
    {%- set max_jumps = config.get('max_jumps') or var('idstitch__closure_max_jumps') -%}
    {%- set closure_name = config.get('closure_name') or this.identifier -%}
    {%- set scratch = [] -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {#- the run lock (a pre-hook) is held before anything is dropped -#}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {{ idstitch.closure_drop_leftovers(this) }}

    {#- edges of round 1: both directions, distinct, no self-links -#}
    {%- set edges = idstitch.closure_scratch(this, 'e1', scratch) -%}
    {% call statement('closure_edges') -%}
        {{ create_table_as(False, edges, idstitch.closure_initial_edges_sql(sql)) }}
    {%- endcall %}
    {%- set input_links = idstitch.closure_count(edges) -%}
    {%- set identifiers = idstitch.closure_scalar(
        'select count(distinct src) from ' ~ edges) -%}
    {{ log('idstitch closure ' ~ closure_name ~ ': ' ~ input_links ~ ' directed links over '
           ~ identifiers ~ ' identifiers', info=True) }}

    {%- set state = {'edges': edges, 'links': input_links, 'rounds': 0, 'converged': input_links == 0,
                     'jumps': 0} -%}
    {%- set round_maps = [] -%}
    {%- for round in range(1, max_rounds + 1) -%}
        {%- if state.converged -%}{% break %}{%- endif -%}
        {#- hook: each node's parent is the smallest of itself and its neighbours -#}
        {%- set parents = idstitch.closure_scratch(this, 'p' ~ round ~ '_0', scratch) -%}
        {% call statement('closure_hook') -%}
            {{ create_table_as(False, parents, idstitch.closure_hook_sql(state.edges)) }}
        {%- endcall %}
        {#- jump: parent := parent's parent until every tree is a star -#}
        {%- set jump_state = {'parents': parents, 'done': false, 'jumps': 0} -%}
        {%- for jump in range(1, max_jumps + 1) -%}
            {%- set unsettled = idstitch.closure_scalar(idstitch.closure_unsettled_sql(jump_state.parents)) -%}
            {%- if unsettled == 0 -%}
                {%- do jump_state.update({'done': true}) -%}{% break %}
            {%- endif -%}
            {%- set jumped = idstitch.closure_scratch(this, 'p' ~ round ~ '_' ~ jump, scratch) -%}
            {% call statement('closure_jump') -%}
                {{ create_table_as(False, jumped, idstitch.closure_jump_sql(jump_state.parents)) }}
            {%- endcall %}
            {%- do jump_state.update({'parents': jumped, 'jumps': jump}) -%}
        {%- endfor -%}
        {%- if not jump_state.done -%}
            {{ idstitch.closure_drop_scratch(scratch) }}
            {{ exceptions.raise_compiler_error(
                'idstitch closure ' ~ closure_name ~ ': round ' ~ round ~ ' needed more than '
                ~ max_jumps ~ ' pointer jumps; raise var idstitch__closure_max_jumps') }}
        {%- endif -%}
        {%- do round_maps.append(jump_state.parents) -%}
        {#- contract: keep links between different roots, rewritten to the roots -#}
        {%- set contracted = idstitch.closure_scratch(this, 'e' ~ (round + 1), scratch) -%}
        {% call statement('closure_contract') -%}
            {{ create_table_as(False, contracted, idstitch.closure_contract_sql(state.edges, jump_state.parents)) }}
        {%- endcall %}
        {%- set remaining = idstitch.closure_count(contracted) -%}
        {{ log('idstitch closure ' ~ closure_name ~ ': round ' ~ round ~ ': ' ~ state.links
               ~ ' links in, ' ~ jump_state.jumps ~ ' jumps, ' ~ remaining ~ ' links left', info=True) }}
        {%- do state.update({'edges': contracted, 'links': remaining, 'rounds': round,
                             'converged': remaining == 0,
                             'jumps': [state.jumps, jump_state.jumps] | max}) -%}
    {%- endfor -%}

    {%- if not state.converged -%}
        {{ idstitch.closure_drop_scratch(scratch) }}
        {{ exceptions.raise_compiler_error(
            'idstitch closure ' ~ closure_name ~ ' did not converge in ' ~ max_rounds
            ~ ' rounds (' ~ state.links ~ ' links left); raise var idstitch__closure_max_rounds') }}
    {%- endif -%}

    {#- build the result beside the target, then swap it in -#}
    {%- set intermediate = idstitch.closure_scratch(this, 'new', scratch) -%}
    {% call statement('closure_labels') -%}
        {{ create_table_as(False, intermediate, idstitch.closure_labels_sql(edges, round_maps)) }}
    {%- endcall %}
    {%- set log_relation = idstitch.closure_log_relation(this) -%}
    {%- set log_intermediate = idstitch.closure_scratch(this, 'lognew', scratch) -%}
    {% call statement('closure_log') -%}
        {{ create_table_as(False, log_intermediate, idstitch.closure_log_sql(
            closure_name, state.rounds, state.converged, input_links, identifiers, state.jumps)) }}
    {%- endcall %}

    {% call statement('main') -%}
        select 1
    {%- endcall %}
    {{ idstitch.closure_swap(intermediate, target_relation) }}
    {{ idstitch.closure_swap(log_intermediate, log_relation) }}

    {{ idstitch.closure_drop_scratch(scratch) }}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
