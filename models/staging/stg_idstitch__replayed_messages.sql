{{ config(materialized="table", post_hook="{{ idstitch.analyze_table(this) }}") }}

{#-
    Message ids received more than once (a client retry, a loader replay), per source table, from
    the message index (which counts receipts). The staging views keep the first receipt of these
    and pass every other row straight through, so a staging view never sorts every message.
-#}

select source_table, message_id, n_receipts
from {{ ref('int_idstitch__messages') }}
where n_receipts > 1
