{{ config(enabled=idstitch.table_enabled('pages')) }}

{{ idstitch.stage_messages('pages', {'anonymous_id': false, 'user_id': false}) }}
