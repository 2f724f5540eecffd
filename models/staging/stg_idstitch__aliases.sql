{{ config(enabled=idstitch.table_enabled('aliases')) }}

{{ idstitch.stage_messages('aliases', ['previous_id', 'user_id']) }}
