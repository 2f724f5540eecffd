{{ config(
    materialized=idstitch.incremental_materialization(),
    unique_key=['source_table', 'message_id'],
    incremental_strategy='delete+insert',
    post_hook="{{ idstitch.analyze_table(this) }}",
) }}

{#-
    Message ids received more than once (a client retry, a loader replay), per source table, from
    the message index (which counts receipts). The staging views keep the first receipt of these
    and pass every other row straight through, so a staging view never sorts every message.
    receipts_conflict: the receipts carry different ids or event times (the first received won).
    Incremental: the index rows written since the last complete run (a count only ever grows).
-#}

select source_table, message_id, n_receipts, receipts_conflict
from {{ ref('int_idstitch__messages') }}
where
    n_receipts > 1
    {%- if idstitch.is_incremental_run() %}
    and {{ idstitch.changed_since_complete_run() }}
    {%- endif %}
