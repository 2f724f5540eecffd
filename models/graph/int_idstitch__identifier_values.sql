{#-
    One row per distinct raw value of each id column, with its normalised identifier (null when
    junk) and its type. Cleaning happens here, once per distinct value rather than once per message:
    the facts and sessions join raw values to this table.

    value_type is the column the value came from (anonymous_id, user_id, an identifier trait, or
    previous_id for an alias). identifier_type is its type in the graph: the same, except that an
    alias's previous_id is an anonymous id when the identifier is only ever seen as one
    (Mixpanel-style alias of a device id), otherwise a user id (a rename).

    `int_idstitch__id_tuples` is referenced directly in each branch: Postgres materialises a CTE that
    is read more than once and then plans without statistics.
-#}
{%- set value_columns = ['anonymous_id', 'user_id'] + var('idstitch__identifier_traits')
                        + (['previous_id'] if idstitch.table_enabled('aliases') else []) -%}

with observed as (

    {%- for column in value_columns %}
    select
        '{{ column }}' as value_type,
        {{ column }} as raw_value,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        min(first_received_at) as first_received_at,
        sum(message_count) as message_count
    from {{ ref('int_idstitch__id_tuples') }}
    where {{ column }} is not null
    group by {{ column }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}

),

cleaned as (

    select
        *,
        {{ idstitch.clean_identifier('raw_value', "case when value_type = 'previous_id' then 'user_id' else value_type end") }}
            as identifier
    from observed

),

seen_as as (

    {#- how an alias's previous_id is seen elsewhere: only those identifiers are looked up -#}
    select distinct value_type, identifier
    from cleaned
    where
        value_type in ('anonymous_id', 'user_id')
        and identifier in (
            select previous_ids.identifier from cleaned as previous_ids
            where previous_ids.value_type = 'previous_id'
        )

),

final as (

    select
        cleaned.value_type,
        cleaned.raw_value,
        case
            when cleaned.value_type <> 'previous_id' then cleaned.value_type
            when as_anonymous.identifier is not null and as_user.identifier is null then 'anonymous_id'
            else 'user_id'
        end as identifier_type,
        cleaned.identifier,
        cleaned.first_seen_at,
        cleaned.last_seen_at,
        cleaned.first_received_at,
        cleaned.message_count
    from cleaned
    left join seen_as as as_anonymous
        on cleaned.value_type = 'previous_id'
        and as_anonymous.value_type = 'anonymous_id'
        and cleaned.identifier = as_anonymous.identifier
    left join seen_as as as_user
        on cleaned.value_type = 'previous_id'
        and as_user.value_type = 'user_id'
        and cleaned.identifier = as_user.identifier

)

select * from final
