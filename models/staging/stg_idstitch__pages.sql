{{ config(enabled=idstitch.table_enabled('pages')) }}

{{ idstitch.stage_messages('pages', ['anonymous_id', 'user_id']) }}
